import fs from 'node:fs';
import path from 'node:path';

/** The browsers the dashboard's tests and benchmarks drive, by the names Debian and Chrome use. */
const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** TASKHOST_CHROMIUM when set (null when it does not exist), else the first candidate on PATH. */
export function findChromium(): string | null {
  const given = process.env.TASKHOST_CHROMIUM;
  if (given) return fs.existsSync(given) ? given : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of CANDIDATES) {
      const candidate = path.join(dir, name);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return null;
}

/** The one line that says what is missing and how to get it. */
export function missingChromium(what: string): string {
  return `${what}: no Chromium found${process.env.TASKHOST_CHROMIUM ? ` at TASKHOST_CHROMIUM=${process.env.TASKHOST_CHROMIUM}` : ' on PATH'} (Debian: apt-get install chromium)`;
}
