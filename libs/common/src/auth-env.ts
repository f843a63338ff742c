/** Env var holding the node-registration token (when no --auth-token-file is given). */
export const AUTH_TOKEN_ENV = "SYMPHONY_AUTH_TOKEN";
/** Env var holding the client API token (when no --client-auth-token-file / --auth-token-file is given). */
export const CLIENT_AUTH_TOKEN_ENV = "SYMPHONY_CLIENT_AUTH_TOKEN";
