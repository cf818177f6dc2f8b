import type { StepEdit } from '../../engine/step-edits.ts';
import { TaskhostError } from '../../errors.ts';

/**
 * The JSON schemas of the resolution routes (they feed /unsecured/spec.json): µTask's
 * resolution document, a step as read and as edited, and the reading of a step edit.
 */

export const resolutionIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export const stepParams = {
  type: 'object',
  required: ['id', 'stepName'],
  properties: { id: { type: 'string', format: 'uuid' }, stepName: { type: 'string', minLength: 1 } },
} as const;

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { ...timestamp, nullable: true } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;
export const anyObject = { type: 'object', additionalProperties: true } as const;
/** Step states as stored: builtin or custom, an upper-case word. */
export const stepState = { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$' } as const;

/** A step's definition fields, as a template file writes them (checked as one). */
const DEFINITION_KEYS = [
  'description',
  'idempotent',
  'action',
  'pre_hook',
  'dependencies',
  'custom_states',
  'conditions',
  'retry_pattern',
  'max_retries',
  'foreach',
  'foreach_strategy',
  'execution_delay',
  'json_schema',
  'resources',
] as const;

/** A step as `GET /resolution/:id/step/:stepName` shows it: definition and state. */
export const stepDocumentSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    state: { type: 'string' },
    output: {},
    metadata: {},
    children: {},
    error: { type: 'string', nullable: true },
    try_count: { type: 'integer' },
    last_run: nullableTimestamp,
    parent: { type: 'string', nullable: true },
    item: {},
    children_steps: { ...stringList, nullable: true },
    description: { type: 'string' },
    idempotent: { type: 'boolean' },
    action: anyObject,
    pre_hook: anyObject,
    dependencies: stringList,
    custom_states: stringList,
    conditions: { type: 'array', items: anyObject },
    retry_pattern: { type: 'string' },
    max_retries: { type: 'integer' },
    foreach: { type: 'string' },
    foreach_strategy: { type: 'string' },
    execution_delay: { type: 'string', description: 'a Go duration' },
    json_schema: {},
    resources: stringList,
  },
} as const;

/** µTask's resolution document. */
export const resolutionDocumentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    task_id: { type: 'string' },
    task_title: { type: 'string' },
    state: { type: 'string' },
    resolver_username: { type: 'string', nullable: true },
    resolver_inputs: anyObject,
    run_count: { type: 'integer' },
    run_max: { type: 'integer' },
    created: timestamp,
    last_start: nullableTimestamp,
    last_stop: nullableTimestamp,
    next_retry: nullableTimestamp,
    instance_id: { type: 'string', nullable: true },
    instance: {
      type: 'object',
      nullable: true,
      properties: {
        id: { type: 'string' },
        kind: { type: 'string' },
        hostname: { type: 'string' },
        pid: { type: 'integer' },
        heartbeat_at: timestamp,
      },
    },
    base_configurations: anyObject,
    steps: { type: 'object', additionalProperties: stepDocumentSchema },
  },
} as const;

/**
 * A step edit: its definition (given whole, with its `action`, as a template file writes
 * it: checked as a file's would be) and any of its state fields. The document's read-only
 * fields are accepted and ignored, so a step read with GET can be sent back edited.
 */
export const stepEditSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(DEFINITION_KEYS.map((key) => [key, {}])),
    state: stepState,
    output: {},
    metadata: {},
    children: { type: 'array', nullable: true },
    error: { type: 'string', nullable: true },
    try_count: { type: 'integer', minimum: 0 },
    name: { type: 'string' },
    last_run: {},
    parent: {},
    item: {},
    children_steps: {},
  },
} as const;

export type StepEditBody = Record<string, unknown> & {
  state?: string;
  output?: unknown;
  metadata?: unknown;
  children?: unknown;
  error?: string | null;
  try_count?: number;
  name?: string;
};

/** A step edit from its request body: the definition when any of its fields is given. */
export function stepEditOf(body: StepEditBody, stepName: string, field: string): StepEdit {
  if (body.name !== undefined && body.name !== stepName) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `${field}/name: "${body.name}" is not the step's name ${stepName}`,
    );
  }
  const definitionKeys = DEFINITION_KEYS.filter((key) => body[key] !== undefined);
  return {
    definition:
      definitionKeys.length > 0
        ? Object.fromEntries(definitionKeys.map((key) => [key, body[key]]))
        : undefined,
    state: body.state,
    output: body.output,
    metadata: body.metadata,
    children: body.children,
    error: body.error,
    try_count: body.try_count,
  };
}
