/**
 * An error answered in vLLM's OpenAI-compatible shape:
 * `{"error": {"message", "type", "param", "code"}}` with `code` = the HTTP status.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** vLLM's `type` for each status (the Python exception class name it reports). */
export function errorType(status: number): string {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 404:
      return "NotFoundError";
    case 413:
      return "BadRequestError";
    case 415:
      return "BadRequestError";
    case 503:
      return "ServiceUnavailableError";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

export function errorBody(status: number, message: string, param: string | null = null): string {
  return JSON.stringify({ error: { message, type: errorType(status), param, code: status } });
}
