/**
 * What `plugin check` reads from the plugin file before running anything: whether it is
 * a binary, its #! line and where its interpreter is, and its source text for the
 * environment scan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pluginEnvironment } from '../environment.ts';
import { shebangProgram, type ShebangFacts } from './decide-file.ts';

/** Source larger than this is not scanned (a script is far smaller; a binary is not read). */
const SOURCE_MAX_BYTES = 1024 * 1024;

export interface FileFacts {
  shebang: ShebangFacts;
  /** The source text, for the environment scan; null for a binary or an unreadable file. */
  source: string | null;
}

function readStart(file: string, bytes: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const read = fs.readSync(fd, buffer, 0, bytes, 0);
    return buffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where `program` is: itself when it has a `/`, else the first match on the PATH taskhost gives plugins. */
function locate(program: string): string | null {
  if (program.includes('/')) return isExecutableFile(program) ? program : null;
  const searchPath = pluginEnvironment({ pluginName: 'check', runId: null }).PATH ?? '';
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, program);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

export function observeFile(file: string): FileFacts {
  let start: Buffer;
  try {
    start = readStart(file, SOURCE_MAX_BYTES);
  } catch {
    return { shebang: { kind: 'script', firstLine: null, program: null, found: null }, source: null };
  }
  // ELF, Mach-O, or a NUL byte early on: a binary, run as it is.
  const magic = start.subarray(0, 4).toString('latin1');
  if (
    magic === '\x7fELF' ||
    /^\xcf\xfa\xed\xfe|^\xfe\xed\xfa/.test(magic) ||
    start.subarray(0, 1024).includes(0)
  ) {
    return { shebang: { kind: 'binary' }, source: null };
  }
  const text = start.toString('utf8');
  const newline = text.indexOf('\n');
  const firstLine = text === '' ? null : newline === -1 ? text : text.slice(0, newline);
  const program = firstLine === null ? null : shebangProgram(firstLine.replace(/\r$/, ''));
  const crlf = firstLine?.endsWith('\r') ?? false;
  return {
    // With a carriage return the system looks for "bash\r", which is nowhere.
    shebang: { kind: 'script', firstLine, program, found: program === null || crlf ? null : locate(program) },
    source: text,
  };
}
