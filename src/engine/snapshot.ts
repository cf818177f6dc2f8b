import type { FunctionDef, FunctionLibrary, LoadedFunction, Template } from '../template/types.ts';
import { functionChain } from '../template/functions.ts';
import { PositionMap } from '../template/positions.ts';

/**
 * What a resolution runs, stored with it when the task is created: the template as loaded
 * (defaults applied) and the functions its steps go through. Editing templates/ or
 * functions/ afterwards never changes a running task.
 */
export interface TemplateSnapshot {
  file: string;
  template: Template;
  functions: Record<string, FunctionDef>;
}

/** The snapshot of a template with the functions its steps (and their pre_hooks) use. */
export function snapshotOf(file: string, template: Template, library: FunctionLibrary): TemplateSnapshot {
  const functions: Record<string, FunctionDef> = {};
  const add = (type: string): void => {
    for (const loaded of functionChain(type, library).chain) {
      functions[loaded.name] = loaded.function;
      if (loaded.function.pre_hook) add(loaded.function.pre_hook.type);
    }
  };
  for (const step of Object.values(template.steps)) {
    add(step.action.type);
    if (step.pre_hook) add(step.pre_hook.type);
  }
  return { file, template, functions };
}

/** The snapshot's functions as a library for the template helpers of src/template/functions.ts. */
export function libraryOf(snapshot: TemplateSnapshot): FunctionLibrary {
  const functions = new Map<string, LoadedFunction>();
  for (const [name, fn] of Object.entries(snapshot.functions)) {
    functions.set(name, {
      name,
      file: snapshot.file,
      function: fn,
      positions: new PositionMap(snapshot.file),
    });
  }
  return { functions, invalid: new Set() };
}
