/**
 * What a run printed on stdout, as `plugin check` needs it: where the result line is, what
 * came after it, which log lines are JSON objects with a "status" key, and the last line
 * that looks like a result without being one. Fed every stdout line (uncapped), it keeps
 * counters and a few samples only, so memory stays bounded whatever the plugin prints.
 * Pure: no I/O here.
 */
import { parseResultLine } from '../../protocol/envelope.ts';

export interface LineSample {
  /** 1-based line number on stdout. */
  line: number;
  text: string;
}

export interface StdoutSummary {
  lines: number;
  /** The last result line (the one taskhost takes), or null. */
  result: LineSample | null;
  /** Non-blank lines after the result line, and the first of them. */
  after: number;
  firstAfter: LineSample | null;
  /** Lines, other than the result line, that are JSON objects with a "status" key. */
  statusLike: number;
  firstStatusLike: LineSample | null;
  /** The last line that looks like a result but is not one, and why not. */
  nearMiss: (LineSample & { why: string }) | null;
}

function describeStatus(status: unknown): string {
  if (typeof status === 'number') return `the number ${status}`;
  if (typeof status === 'string') return `the string ${JSON.stringify(status)}`;
  return status === null ? 'null' : `${Array.isArray(status) ? 'an array' : `a ${typeof status}`}`;
}

export class StdoutScan {
  private lines = 0;
  private result: LineSample | null = null;
  private after = 0;
  private firstAfter: LineSample | null = null;
  private statusLike = 0;
  /** The first two status-like lines: one of them may turn out to be the result. */
  private statusSamples: LineSample[] = [];
  private nearMiss: (LineSample & { why: string }) | null = null;

  push(text: string): void {
    this.lines += 1;
    const sample = { line: this.lines, text };
    if (parseResultLine(text)) {
      this.noteStatusLike(sample);
      this.result = sample;
      this.after = 0;
      this.firstAfter = null;
      return;
    }
    if (this.result !== null && text.trim() !== '') {
      this.after += 1;
      this.firstAfter ??= sample;
    }
    const trimmed = text.trim();
    if (trimmed[0] !== '{') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      // `"status"`, or `'status'` as Python prints a dict (print(result) instead of json.dumps).
      if (/["']status["']/.test(trimmed)) {
        this.nearMiss = { ...sample, why: `it is not valid JSON (${(error as Error).message})` };
      }
      return;
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'status' in value) {
      this.noteStatusLike(sample);
      const status = (value as { status: unknown }).status;
      this.nearMiss = { ...sample, why: `its "status" is ${describeStatus(status)}, not an integer` };
    }
  }

  private noteStatusLike(sample: LineSample): void {
    this.statusLike += 1;
    if (this.statusSamples.length < 2) this.statusSamples.push(sample);
  }

  summary(): StdoutSummary {
    const others = this.statusSamples.filter((sample) => sample.line !== this.result?.line);
    return {
      lines: this.lines,
      result: this.result,
      after: this.after,
      firstAfter: this.firstAfter,
      statusLike: this.statusLike - (this.result ? 1 : 0),
      firstStatusLike: others[0] ?? null,
      nearMiss: this.nearMiss,
    };
  }
}
