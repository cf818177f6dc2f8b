/**
 * One entry of a run's or a task's ordered log, as stored and as streamed: the wire shape the
 * server, the CLI and the dashboard share (no imports, so the browser bundle can take it).
 */

export type EventType = 'log' | 'run' | 'step' | 'task';

export interface StreamEvent {
  seq: number;
  type: EventType;
  step: string | null;
  stream: string | null;
  line: string | null;
  state: string | null;
  ts: string;
  /** Extra fields of state events (a run's result and error). */
  data?: Record<string, unknown> | null;
}
