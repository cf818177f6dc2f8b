import fs from 'node:fs';
import path from 'node:path';

/**
 * Files only their owner may read (the users file, the key ring), written whole: the JSON goes
 * to a temporary file beside the target, mode 0600, which the caller renames (or links) into
 * place, so a reader never sees half of it.
 */

/**
 * Writes `value` as JSON to `file`'s temporary sibling, mode 0600, and returns its path. A
 * missing folder is created, with `folderMode` when given (the key ring's: 0700; not a
 * project's .taskhost, where the embedded cluster lives with its own modes).
 */
export function stagePrivateJson(file: string, value: unknown, folderMode?: number): string {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: folderMode });
  const staged = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(staged, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  // A temporary file left by an earlier write keeps its mode: set it explicitly.
  fs.chmodSync(staged, 0o600);
  return staged;
}

/** Replaces `file` with `value` as JSON, mode 0600, in one rename. */
export function writePrivateJson(file: string, value: unknown, folderMode?: number): void {
  fs.renameSync(stagePrivateJson(file, value, folderMode), file);
}
