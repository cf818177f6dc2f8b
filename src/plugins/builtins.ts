/**
 * Names of the builtin actions (SPEC section 1). A plugin may not take one of them: a
 * template's `action.type` must mean the same thing wherever it runs.
 */
export const BUILTIN_ACTIONS: ReadonlySet<string> = new Set([
  'echo',
  'http',
  'script',
  'subtask',
  'callback',
  'batch',
  'notify',
]);
