/**
 * The task executor protocol v1, as data: the stdin envelope a plugin receives and the
 * result envelope it prints as its last JSON line. Pure: no I/O here.
 */

export const PROTOCOL_VERSION = 'v1';

export interface InputMeta {
  protocol: typeof PROTOCOL_VERSION;
  caller: 'taskhost';
  taskName: string;
  taskId: string | null;
  runId: string | null;
  stepName: string | null;
  attempt: number;
  requester: string | null;
  resolver: string | null;
}

export interface InputEnvelope {
  meta: InputMeta;
  data: unknown;
}

/** What a plugin prints: `{"status": 1, "reason": "ok", "payload": ...}`. */
export interface ResultEnvelope {
  status: number;
  reason?: string;
  payload?: unknown;
  metadata?: Record<string, unknown>;
  state?: string;
  [extra: string]: unknown;
}

export function buildInputEnvelope(
  meta: Partial<InputMeta> & { taskName: string },
  data: unknown,
): InputEnvelope {
  return {
    meta: {
      protocol: PROTOCOL_VERSION,
      caller: 'taskhost',
      taskName: meta.taskName,
      taskId: meta.taskId ?? null,
      runId: meta.runId ?? null,
      stepName: meta.stepName ?? null,
      attempt: meta.attempt ?? 1,
      requester: meta.requester ?? null,
      resolver: meta.resolver ?? null,
    },
    data,
  };
}

/**
 * Reads one stdout line as a result envelope: a JSON object with an integer `status`.
 * Anything else (log text, invalid JSON, arrays, a non-integer status) is not a result.
 * The cheap first/last character test keeps a flood of plain log lines from being parsed.
 */
export function parseResultLine(line: string): ResultEnvelope | undefined {
  const text = line.trim();
  if (text.length < 2 || text[0] !== '{' || text[text.length - 1] !== '}') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const status = (value as { status?: unknown }).status;
  if (typeof status !== 'number' || !Number.isInteger(status)) return undefined;
  return value as ResultEnvelope;
}
