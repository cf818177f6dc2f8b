/**
 * The value model templates read: µTask's roots, as plain JSON values the engine passes.
 *
 *   input.NAME               an input given by the task's requester
 *   resolver_input.NAME      an input given by the resolver
 *   step.NAME.output|metadata|children|error|state   what a step produced (`this`: the current step)
 *   config.NAME              a configuration item
 *   iterator                 the current item of a foreach step
 *   pre_hook.output|metadata what the step's pre_hook produced
 *   function_args.NAME       the arguments of a function being expanded
 *   task.task_id …           the task's own fields (µTask's keys)
 *
 * Variables are not a root: `{{eval "name"}}` and `{{evalCache "name"}}` read them.
 */

/** What a step contributed to the values (µTask: output, metadata, children, error, state). */
export interface StepValues {
  output?: unknown;
  metadata?: unknown;
  children?: unknown;
  error?: unknown;
  state?: string;
  [key: string]: unknown;
}

/** µTask's task keys (`{{task.requester_username}}`). */
export interface TaskValues {
  task_id?: string;
  resolution_id?: string;
  requester_username?: string;
  requester_groups?: string[];
  resolver_username?: string;
  /** An RFC 3339 time, which the date helpers read as a time. */
  created?: string;
  region?: string;
  watcher_usernames?: string[];
  watcher_groups?: string[];
  [key: string]: unknown;
}

/** A template variable: a fixed value (a string is rendered at each use) or a JavaScript expression. */
export interface Variable {
  name: string;
  value?: unknown;
  /** JavaScript, rendered as a template first (as µTask does), then run in the sandbox. */
  expression?: string;
  /** A Go duration ("100ms", "2s"); default 1 s, at most 10 s (see expr/sandbox.ts). */
  expression_timeout?: string;
}

/** Everything a template can read. Absent roots read as missing values (rendered empty). */
export interface ValueContext {
  input?: Record<string, unknown>;
  resolver_input?: Record<string, unknown>;
  step?: Record<string, StepValues>;
  config?: Record<string, unknown>;
  iterator?: unknown;
  pre_hook?: { output?: unknown; metadata?: unknown };
  function_args?: Record<string, unknown>;
  task?: TaskValues;
  variables?: readonly Variable[];
}

/** The roots a template reads, by name (the order of µTask's README). */
export const ROOT_NAMES = [
  'input',
  'resolver_input',
  'step',
  'config',
  'iterator',
  'pre_hook',
  'function_args',
  'task',
] as const;

/**
 * Results of `evalCache` for one resolution run: create one per run with `createEvalCache`
 * and pass it to every render of that run (µTask kept them on the run's values).
 */
export type EvalCache = Map<string, unknown>;

export function createEvalCache(): EvalCache {
  return new Map();
}

/**
 * The object templates are rendered against: the context's roots, with `step.this` being
 * the current step (µTask copies the current step's values under "this" while rendering).
 */
export function valueRoot(context: ValueContext, currentStep: string | undefined): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const name of ROOT_NAMES) {
    if (context[name] !== undefined) root[name] = context[name];
  }
  if (currentStep !== undefined) {
    root.step = withThis(context.step ?? {}, (steps) => steps[currentStep] ?? {});
  }
  return root;
}

/**
 * The steps with `this` added, without copying them: a resolution may hold thousands of
 * steps (a foreach's children), and every render of every step would copy them all. A
 * Proxy shows `this` as an own property (Handlebars reads only own properties).
 */
function withThis(
  steps: Record<string, unknown>,
  current: (steps: Record<string, unknown>) => unknown,
): Record<string, unknown> {
  const self = current(steps);
  return new Proxy(steps, {
    get: (target, key) => (key === 'this' ? self : Reflect.get(target, key)),
    has: (target, key) => key === 'this' || Reflect.has(target, key),
    getOwnPropertyDescriptor: (target, key) =>
      key === 'this'
        ? { value: self, writable: false, enumerable: true, configurable: true }
        : Reflect.getOwnPropertyDescriptor(target, key),
    ownKeys: (target) => [...Reflect.ownKeys(target).filter((key) => key !== 'this'), 'this'],
    set: () => false,
    deleteProperty: () => false,
    defineProperty: () => false,
  });
}
