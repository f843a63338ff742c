// Generates TypeScript from proto/ with buf + ts-proto (the binaries ship inside npm packages;
// nothing is downloaded). Output goes to libs/runtime/src/gen and is never edited by hand.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
execFileSync(bin("buf"), ["generate"], { cwd: root, stdio: "inherit" });
