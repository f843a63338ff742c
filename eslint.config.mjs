import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "dist/**",
      "reports/**",
      "results/**",
      ".nx/**",
      "libs/runtime/src/gen/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", __dirname: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Domain code knows nothing of transport, logging or generated wire types: it runs the same
    // live and in virtual-time simulation. Direct imports only; dependency-cruiser (npm run lint)
    // also follows barrels and other packages.
    files: ["apps/*/src/domain/**/*.ts", "experiments/src/domain/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "@grpc/grpc-js", message: "domain code must not depend on transport" },
            { name: "node:http", message: "domain code must not depend on transport" },
            { name: "winston", message: "domain code gets no logger; return events instead" },
            { name: "fastify", message: "domain code must not depend on transport" },
            { name: "undici", message: "domain code must not depend on transport" },
            { name: "node:https", message: "domain code must not depend on transport" },
            { name: "node:net", message: "domain code must not depend on transport" },
            { name: "zeromq", message: "domain code must not depend on transport" },
            {
              name: "prom-client",
              message: "domain code counts in plain fields; the service exports metrics",
            },
            {
              name: "@symphony/runtime",
              message: "the service runtime (wire types, gRPC, logging) stays out of domain code",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        { name: "setTimeout", message: "use the injected Timers" },
        { name: "setInterval", message: "use the injected Timers" },
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "use the injected Timers" },
        { object: "Math", property: "random", message: "use an injected Rng (rngFor)" },
        { object: "performance", property: "now", message: "use the injected Timers" },
      ],
    },
  },
);
