import { UsageError } from "@symphony/common";

/**
 * A failed bind or listen as the user should see it: an address in use, a privileged port or an
 * address this machine does not have becomes a one-line UsageError naming the flag and port
 * (runCli prints it and exits 2); anything else is returned unchanged. Works on Node's listen
 * errors (`code`) and on grpc-js's bind errors (the code is inside the message).
 */
export function listenFailure(err: unknown, host: string, port: number, flag: string): unknown {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const text = `${typeof e?.code === "string" ? e.code : ""} ${typeof e?.message === "string" ? e.message : ""}`;
  const code = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(text)?.[1];
  const where = `${host}:${port}`;
  if (code === "EADDRINUSE")
    return new UsageError(
      `${flag} ${port}: ${where} is already in use (pick another port, or 0 for a free one)`,
      {
        cause: err,
      },
    );
  if (code === "EACCES")
    return new UsageError(
      `${flag} ${port}: no permission to listen on ${where} (ports below 1024 need privileges)`,
      {
        cause: err,
      },
    );
  if (code === "EADDRNOTAVAIL")
    return new UsageError(
      `--host ${host}: not an address of this machine (cannot listen on ${where} for ${flag})`,
      {
        cause: err,
      },
    );
  return err;
}
