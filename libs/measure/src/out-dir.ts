import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { UsageError } from "@symphony/common";

/** The file-system calls prepareOutDir makes (injectable so tests can stage failures). */
export interface OutDirFs {
  mkdir(dir: string): void;
  /** Throws (EACCES, EROFS, ...) when this process cannot create files in `dir`. */
  checkWritable(dir: string): void;
  /** The directory's owner, or null when it cannot be read. */
  ownerOf(dir: string): { uid: number; gid: number } | null;
}

const nodeFs: OutDirFs = {
  mkdir: (dir) => mkdirSync(dir, { recursive: true }),
  checkWritable: (dir) => accessSync(dir, constants.W_OK | constants.X_OK),
  ownerOf: (dir) => {
    try {
      const s = statSync(dir);
      return { uid: s.uid, gid: s.gid };
    } catch {
      return null;
    }
  },
};

/**
 * Creates `--out` (and its parents) and checks that this process can write there, before any
 * request is sent: a results directory it cannot write (a bind mount Docker created for root, a
 * read-only volume) is one line and exit 2, naming the directory, its owner and this process's
 * user, instead of a stack trace once the first record is due.
 */
export function prepareOutDir(
  dir: string,
  fs: OutDirFs = nodeFs,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  try {
    fs.mkdir(dir);
    fs.checkWritable(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code ?? e.message;
    let detail = "";
    if (e.code === "EACCES" || e.code === "EPERM") {
      const owner = fs.ownerOf(dir);
      const me = typeof process.getuid === "function" ? `${process.getuid()}:${process.getgid!()}` : null;
      if (owner && me) detail = `; it belongs to ${owner.uid}:${owner.gid} and this process runs as ${me}`;
      // Inside Symphony's image (docker-compose's workloadgen service), say how to fix it there.
      detail += env.SYMPHONY_APP
        ? ': run the container as the directory\'s owner (docker-compose: SYMPHONY_RESULTS_USER="$(id -u):$(id -g)"), or make it writable'
        : ": make it writable, or choose another --out";
    } else if (e.code === "EROFS") detail = ": the file system is read-only; choose another --out";
    else if (e.code === "ENOTDIR" || e.code === "EEXIST")
      detail = ": a file is in the way; choose another --out";
    throw new UsageError(`--out ${dir}: cannot write there (${why})${detail}`, { cause: err });
  }
}
