/**
 * Runs test/fixtures/plugins/flood.sh (50 MiB of output) through runPlugin in a process of
 * its own, and prints on stdout, as one JSON object, what the test in
 * test/unit/plugins/run-plugin.test.ts asserts: the outcome, what was delivered, and how much
 * memory the runner kept.
 *
 * The memory is measured where it would peak if the runner buffered the output: the fixture
 * has written all 50 MiB (the pipe holds at most a few KiB of it, the runner read the rest)
 * and waits for a gate file before its result, so nothing has been delivered from the tail
 * yet. At that point, after a full garbage collection, heapUsed + external (Buffers) is what
 * the runner retains; the same measure just before the run is the baseline.
 *
 *   node --import tsx --expose-gc test/helpers/flood-memory.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describePlugin } from '../../src/plugins/description.ts';
import type { OutputLine } from '../../src/plugins/output.ts';
import { runPlugin } from '../../src/plugins/run-plugin.ts';
import { fixturePath, waitForFile } from './plugin-fixtures.ts';

export interface FloodMemoryReport {
  state: string;
  error: string | null;
  payload: unknown;
  dropped: { lines: number; bytes: number };
  /** Log bytes delivered through onLine (each line + 1 for its newline), notices excluded. */
  deliveredBytes: number;
  deliveredLines: number;
  /** The lines of stream 'taskhost'. */
  notices: string[];
  /** The last three lines delivered. */
  lastLines: OutputLine[];
  /** Retained bytes (heapUsed + external after a full GC) before the run and at its peak. */
  baselineBytes: number;
  peakBytes: number;
}

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run me with node --expose-gc');

function retainedBytes(): number {
  collect?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-flood-'));
try {
  const location = fixturePath('flood.sh');
  const description = await describePlugin(location);
  const plugin = { name: description.name, location, description };
  const marker = path.join(dir, 'written');
  const gate = path.join(dir, 'gate');

  let deliveredBytes = 0;
  let deliveredLines = 0;
  const notices: string[] = [];
  const lastLines: OutputLine[] = [];
  const onLine = (line: OutputLine): void => {
    lastLines.push(line);
    if (lastLines.length > 3) lastLines.shift();
    if (line.stream === 'taskhost') {
      notices.push(line.text);
      return;
    }
    deliveredLines += 1;
    deliveredBytes += Buffer.byteLength(line.text) + 1;
  };

  // A first, small run loads everything a run needs (lazy imports, compiled validators).
  const ok = fixturePath('ok.sh');
  await runPlugin({ plugin: { name: 'ok', location: ok, description: await describePlugin(ok) }, data: {} });
  const baselineBytes = retainedBytes();
  const running = runPlugin({ plugin, data: { marker, gate }, onLine });
  await waitForFile(marker, { withinMs: 120_000 });
  const peakBytes = retainedBytes();
  fs.writeFileSync(gate, '');
  const outcome = await running;

  const report: FloodMemoryReport = {
    state: outcome.state,
    error: outcome.error,
    payload: outcome.result?.payload,
    dropped: outcome.dropped,
    deliveredBytes,
    deliveredLines,
    notices,
    lastLines,
    baselineBytes,
    peakBytes,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
