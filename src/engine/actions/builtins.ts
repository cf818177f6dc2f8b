import { echoAction } from './echo.ts';
import { httpAction } from './http.ts';
import { notifyAction } from './notify.ts';
import { createScriptAction } from './script.ts';
import type { ActionRunner } from './types.ts';

export interface BuiltinActionOptions {
  /** The directory the `script` action runs files from. */
  scriptsDir: string;
}

/**
 * The builtins that need nothing from the engine, by `action.type`: echo, script, http and
 * notify. The engine adds those that drive it (subtask, batch, callback) and the registered
 * plugins.
 */
export function builtinActions(options: BuiltinActionOptions): Map<string, ActionRunner> {
  const runners = [
    echoAction,
    createScriptAction({ scriptsDir: options.scriptsDir }),
    httpAction,
    notifyAction,
  ];
  return new Map(runners.map((runner) => [runner.type, runner]));
}
