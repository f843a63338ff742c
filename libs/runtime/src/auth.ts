import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { UsageError } from "@symphony/common";

export { AUTH_TOKEN_ENV, CLIENT_AUTH_TOKEN_ENV } from "@symphony/common";

/**
 * The tokens in a token file: one per non-empty line, surrounding whitespace dropped, `#` lines
 * ignored. A missing, unreadable or empty file is a UsageError naming `flag`.
 */
export function readTokenFile(path: string, flag: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  const tokens = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (tokens.length === 0) throw new UsageError(`${flag}: "${path}" holds no token (one token per line)`);
  for (const t of tokens)
    if (!/^[\x21-\x7e]+$/.test(t))
      throw new UsageError(`${flag}: "${path}": tokens must be printable ASCII without spaces`);
  return tokens;
}

/**
 * The tokens configured by a flag or, failing that, an env var (one token); [] = auth off.
 * An env var that is set but blank is treated as unset.
 */
export function loadTokens(file: string | undefined, flag: string, envValue: string | undefined): string[] {
  if (file !== undefined) return readTokenFile(file, flag);
  const fromEnv = envValue?.trim();
  return fromEnv ? [fromEnv] : [];
}

/** SHA-256, so that comparisons take the same time whatever the lengths. */
function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/**
 * A set of accepted bearer tokens. `match` compares against every token in constant time (no
 * early exit on the first differing byte or the first matching token), so timing tells an
 * attacker nothing about a token.
 */
export class TokenSet {
  private readonly digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  /** Whether any token is configured (auth is on). */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Index of the token `presented` equals, or -1. */
  match(presented: string): number {
    const d = digest(presented);
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) if (timingSafeEqual(d, this.digests[i]!)) found = i;
    return found;
  }
}

/** The token of an `authorization: Bearer <token>` metadata entry, or undefined. */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get("authorization")[0];
  if (typeof value !== "string") return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}

/** Outcome of checking a call's token: the matching token's index, or a gRPC error to answer. */
export type AuthCheck =
  | { readonly ok: true; readonly principal: number }
  | { readonly ok: false; readonly error: Partial<grpc.ServiceError> };

/**
 * Checks a call's `authorization: Bearer` metadata against `tokens` (`what` names the API in the
 * error). Auth off (no tokens) lets everything through as principal -1.
 */
export function checkBearer(tokens: TokenSet, metadata: grpc.Metadata, what: string): AuthCheck {
  if (!tokens.enabled) return { ok: true, principal: -1 };
  const presented = bearerToken(metadata);
  if (presented === undefined)
    return {
      ok: false,
      error: {
        code: grpc.status.UNAUTHENTICATED,
        details: `${what} requires "authorization: Bearer <token>" metadata`,
      },
    };
  const principal = tokens.match(presented);
  if (principal < 0)
    return { ok: false, error: { code: grpc.status.UNAUTHENTICATED, details: `${what}: invalid token` } };
  return { ok: true, principal };
}

/**
 * A client interceptor adding `authorization: Bearer <token>` to every call (works over plain
 * and TLS channels alike, unlike call credentials, which grpc-js allows only over TLS).
 */
export function bearerInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** Whether `host` (a bind address) is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
