/**
 * Splitting a byte stream into lines, and capping what is delivered: the head of the
 * output goes out live, then a bounded tail is kept and delivered at the end behind a
 * notice of what was dropped. Memory stays bounded whatever the plugin prints.
 */

export type OutputStream = 'stdout' | 'stderr' | 'taskhost';

export interface OutputLine {
  stream: OutputStream;
  text: string;
}

/** Cuts chunks into lines; a line longer than `maxLineBytes` is cut there (and marked). */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflowed = false;
  private readonly maxLineBytes: number;
  private readonly emit: (line: string) => void;

  constructor(maxLineBytes: number, emit: (line: string) => void) {
    this.maxLineBytes = maxLineBytes;
    this.emit = emit;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, newline));
      this.flushLine();
      start = newline + 1;
    }
  }

  /** Emits the last line if it had no trailing newline. */
  end(): void {
    if (this.size > 0 || this.overflowed) this.flushLine();
  }

  private keep(piece: Buffer): void {
    if (piece.length === 0) return;
    const room = this.maxLineBytes - this.size;
    if (room <= 0) {
      this.overflowed = true;
      return;
    }
    if (piece.length > room) {
      this.overflowed = true;
      piece = piece.subarray(0, room);
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  private flushLine(): void {
    const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (this.overflowed) text += ` [taskhost: line cut at ${this.maxLineBytes} bytes]`;
    this.parts = [];
    this.size = 0;
    this.overflowed = false;
    this.emit(text);
  }
}

export interface DroppedOutput {
  lines: number;
  bytes: number;
}

/**
 * Delivers lines while the head budget lasts, then keeps only a tail of `tailBytes`;
 * `finish()` delivers a notice and that tail. Each line costs its UTF-8 length + 1.
 */
export class OutputLimiter {
  private headLeft: number;
  private readonly tailBytes: number;
  private tail: OutputLine[] = [];
  private tailStart = 0;
  private tailSize = 0;
  private readonly dropped: DroppedOutput = { lines: 0, bytes: 0 };
  private readonly deliver: (line: OutputLine) => void;

  constructor(capBytes: number, deliver: (line: OutputLine) => void) {
    this.tailBytes = Math.min(Math.floor(capBytes / 4), 256 * 1024);
    this.headLeft = capBytes - this.tailBytes;
    this.deliver = deliver;
  }

  push(line: OutputLine): void {
    const cost = Buffer.byteLength(line.text) + 1;
    if (this.tail.length === this.tailStart && cost <= this.headLeft) {
      this.headLeft -= cost;
      this.deliver(line);
      return;
    }
    this.headLeft = 0;
    this.tail.push(line);
    this.tailSize += cost;
    while (this.tailSize > this.tailBytes && this.tailStart < this.tail.length) {
      const old = this.tail[this.tailStart] as OutputLine;
      const oldCost = Buffer.byteLength(old.text) + 1;
      this.tailSize -= oldCost;
      this.dropped.lines += 1;
      this.dropped.bytes += oldCost;
      this.tailStart += 1;
    }
    // Compact now and then so the array does not grow with what was dropped.
    if (this.tailStart > 1024 && this.tailStart * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailStart);
      this.tailStart = 0;
    }
  }

  finish(): DroppedOutput {
    if (this.dropped.lines > 0) {
      const kept = this.tail.length - this.tailStart;
      this.deliver({
        stream: 'taskhost',
        text: `output cap reached: ${this.dropped.lines} lines (${this.dropped.bytes} bytes) dropped; the last ${kept} lines follow`,
      });
    }
    for (let i = this.tailStart; i < this.tail.length; i += 1) this.deliver(this.tail[i] as OutputLine);
    this.tail = [];
    this.tailStart = 0;
    return { ...this.dropped };
  }
}
