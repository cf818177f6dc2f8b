import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { BUILTIN_ACTIONS } from '../../src/plugins/builtins.ts';
import type { Store } from '../../src/store/store.ts';
import { formatIssue } from '../../src/template/errors.ts';
import { loadFunctions } from '../../src/template/function-load.ts';
import type { FunctionLibrary } from '../../src/template/types.ts';
import { taskEvents } from './engine.ts';
import { tempDir } from './plugin-fixtures.ts';

/**
 * Small readers over a task's stored trace for the engine's acceptance scenarios
 * (test/integration/engine/*.test.ts): what each step went through, in commit order, and
 * functions loaded from YAML text as templates/functions/ would be.
 */

/** The states a step was committed in, in order (its `step` events). */
export async function stateTrail(store: Store, taskId: string, step: string): Promise<string[]> {
  const events = await taskEvents(store, taskId);
  return events
    .filter((event) => event.type === 'step' && event.step === step)
    .map((event) => event.state ?? '');
}

/** Every step event of a task as `STEP:STATE`, in commit order. */
export async function stepTrail(store: Store, taskId: string): Promise<string[]> {
  const events = await taskEvents(store, taskId);
  return events
    .filter((event) => event.type === 'step')
    .map((event) => `${event.step ?? ''}:${event.state ?? ''}`);
}

/** The task states of a task's log (its `task` events), in order. */
export async function taskTrail(store: Store, taskId: string): Promise<string[]> {
  const events = await taskEvents(store, taskId);
  return events.filter((event) => event.type === 'task').map((event) => event.state ?? '');
}

/**
 * Functions from YAML texts (file name → text), loaded by the loader of
 * templates/functions/ from a private directory; refused (with their issues) when invalid.
 * Builtins are the only other action types they may name.
 */
export async function functionLibrary(
  t: TestContext,
  files: Record<string, string>,
): Promise<FunctionLibrary> {
  const dir = tempDir(t);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const { library, issues } = await loadFunctions(dir, {
    isKnownAction: (type) => BUILTIN_ACTIONS.has(type),
    actionNames: [...BUILTIN_ACTIONS],
  });
  if (issues.length > 0) throw new Error(`invalid functions:\n${issues.map(formatIssue).join('\n')}`);
  return library;
}
