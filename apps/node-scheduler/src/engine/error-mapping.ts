import { SseLineTooLongError } from "@symphony/common";
import { EngineError, type GrpcCodeName } from "./engine-adapter";

/**
 * HTTP status of a failed engine call -> gRPC status name and whether a retry may help.
 * Overload (429) and unavailability (502/503/504) are retryable; bad requests and engine bugs are not.
 */
export function classifyHttpStatus(status: number): { code: GrpcCodeName; retryable: boolean } {
  if (status === 400 || status === 422) return { code: "INVALID_ARGUMENT", retryable: false };
  if (status === 401) return { code: "UNAUTHENTICATED", retryable: false };
  if (status === 403) return { code: "PERMISSION_DENIED", retryable: false };
  if (status === 404) return { code: "NOT_FOUND", retryable: false };
  if (status === 408) return { code: "DEADLINE_EXCEEDED", retryable: true };
  if (status === 429) return { code: "RESOURCE_EXHAUSTED", retryable: true };
  if (status === 501) return { code: "UNIMPLEMENTED", retryable: false };
  if (status === 500) return { code: "INTERNAL", retryable: false };
  if (status >= 500) return { code: "UNAVAILABLE", retryable: true };
  return { code: "FAILED_PRECONDITION", retryable: false };
}

/** Socket-level failures (refused, reset, timed out connecting) mean the engine is unreachable. */
const NETWORK_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
]);

/** Any thrown value from an engine call -> EngineError (already-classified errors pass through). */
export function toEngineError(err: unknown, engine: string, streamed: boolean): EngineError {
  if (err instanceof EngineError) return err;
  // A malformed stream: the same engine would send it again, so not retryable.
  if (err instanceof SseLineTooLongError)
    return new EngineError(
      "INTERNAL",
      `engine ${engine} sent a malformed stream: ${err.message}`,
      false,
      streamed,
    );
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e?.name === "AbortError" || e?.code === "UND_ERR_ABORTED") {
    return new EngineError("CANCELLED", "engine call cancelled", false, streamed);
  }
  const code = e?.code ?? e?.cause?.code;
  if (code && NETWORK_ERROR_CODES.has(code)) {
    return new EngineError("UNAVAILABLE", `engine ${engine} unreachable: ${code}`, true, streamed);
  }
  return new EngineError(
    "INTERNAL",
    `engine ${engine} call failed: ${e?.message ?? String(err)}`,
    false,
    streamed,
  );
}
