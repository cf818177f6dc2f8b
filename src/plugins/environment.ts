/**
 * The environment a plugin sees: PATH, HOME and LANG, plus the TASKHOST_* variables that
 * describe its run. Nothing else of the host's environment (database URLs, tokens, the
 * server's own TASKHOST_* settings) reaches a plugin.
 */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The only host variables any child of taskhost inherits (plugins, and the `script`
 * builtin's scripts): enough to find programs, a home and a locale.
 */
export function baseEnvironment(): Record<string, string> {
  return {
    PATH: process.env.PATH || DEFAULT_PATH,
    HOME: process.env.HOME || '/',
    LANG: process.env.LANG || 'C.UTF-8',
  };
}

export interface RunIdentity {
  pluginName: string;
  runId: string | null;
  taskId?: string | null;
  stepName?: string | null;
}

export function pluginEnvironment(
  identity: RunIdentity,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {
    ...baseEnvironment(),
    TASKHOST_PROTOCOL: 'v1',
    TASKHOST_PLUGIN: identity.pluginName,
  };
  if (identity.runId) env.TASKHOST_RUN_ID = identity.runId;
  if (identity.taskId) env.TASKHOST_TASK_ID = identity.taskId;
  if (identity.stepName) env.TASKHOST_STEP_NAME = identity.stepName;
  return { ...env, ...extra };
}
