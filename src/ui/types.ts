/**
 * The payloads the dashboard reads, as the API's OpenAPI document describes them
 * (/unsecured/spec.json; src/api/routes/*.ts hold their schemas). Only the fields the pages use.
 */

export interface Caller {
  username: string;
  admin: boolean;
  groups: string[];
}

export interface TaskRights {
  username: string;
  admin: boolean;
  requester: boolean;
  watcher: boolean;
  resolver: boolean;
  resolution_id: string | null;
  can: { comment: boolean; resolve: boolean; wontfix: boolean; edit: boolean; delete: boolean };
}

/** A JSON Schema, as plugins and templates give it. */
export type JsonSchema = Record<string, unknown>;

export interface Plugin {
  name: string;
  title: string | null;
  description: string;
  category: string | null;
  tags: unknown[];
  dangerous: unknown;
  expensive: boolean;
  idempotent: boolean;
  timeout: number | null;
  location: string;
  source: string;
  inputs: JsonSchema;
  outputs: JsonSchema | null;
}

export interface Run {
  id: string;
  plugin: string;
  origin: string;
  state: string;
  requester: string | null;
  task_id: string | null;
  step_name: string | null;
  attempt: number;
  data?: unknown;
  result: Record<string, unknown> | null;
  error: string | null;
  exit_code: number | null;
  signal: string | null;
  kill_reason: string | null;
  output_dropped?: { lines: number; bytes: number };
  created: string;
  started: string | null;
  finished: string | null;
  duration_ms: number | null;
  last_seq: number;
}

/** One input of a template (µTask's input fields). */
export interface TemplateInput {
  name: string;
  description?: string;
  type?: string;
  optional?: boolean;
  collection?: boolean;
  regex?: string;
  legal_values?: unknown[];
  default?: unknown;
  hidden?: boolean;
}

/** A step as a template (or a resolution) writes it. */
export interface StepDefinition {
  description?: string;
  dependencies?: string[];
  foreach?: unknown;
  action?: { type?: string };
  custom_states?: string[];
}

export interface Template {
  name: string;
  description: string;
  long_description?: string;
  doc_link?: string;
  tags?: Record<string, string>;
  inputs?: TemplateInput[];
  resolver_inputs?: TemplateInput[];
  allowed_resolver_usernames?: string[];
  auto_runnable?: boolean;
  blocked?: boolean;
  hidden?: boolean;
  steps?: Record<string, StepDefinition>;
  [key: string]: unknown;
}

export interface ResolutionSummary {
  id: string;
  state: string;
  run_count: number;
  next_retry: string | null;
}

export interface StepState {
  state: string;
  output: unknown;
  metadata: unknown;
  children: unknown;
  error: string | null;
  try_count: number;
  last_run: string | null;
}

export interface Task {
  id: string;
  template_name: string;
  title: string;
  state: string;
  requester: string;
  resolver_usernames: string[];
  input?: Record<string, unknown>;
  result?: unknown;
  created: string;
  last_activity: string;
  resolution: ResolutionSummary | null;
  steps?: Record<string, StepState>;
}

/** A resolution's step: its definition and its state (GET /resolution/:id). */
export interface ResolutionStep extends StepDefinition, StepState {
  name: string;
  parent: string | null;
  item: unknown;
  children_steps: string[] | null;
}

export interface Resolution {
  id: string;
  task_id: string;
  state: string;
  run_count: number;
  run_max: number;
  next_retry: string | null;
  resolver_username: string | null;
  steps: Record<string, ResolutionStep>;
}

export interface Comment {
  id: string;
  username: string;
  content: string;
  created: string;
}

export type { StreamEvent } from '../protocol/stream-event.ts';
