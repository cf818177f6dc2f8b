import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { TaskhostError } from '../../errors.ts';
import { BUILTIN_ACTIONS } from '../../plugins/builtins.ts';
import type { FunctionLibrary, LoadedTemplate } from '../../template/types.ts';
import type { TemplateCatalog } from '../../api/template-catalog.ts';
import type { TemplateSnapshot } from '../../engine/snapshot.ts';
import { settingsOf } from '../config.ts';
import { withStore, type StoreFlags } from '../context.ts';
import { keyValuePairs, parseJson, usage } from '../flag-values.ts';
import { paint, printJson, useColour } from '../output.ts';

/**
 * `taskhost run TEMPLATE`: creates a task from a template and resolves it in this process
 * until it is final, blocked or waiting (sleeping through retry delays; `--once`: one
 * resolution run). `--resume ID` runs an existing task again instead (after a crash, a
 * blocked step fixed by hand, or a wait). Live step progress on a TTY; `--json` prints the
 * task document. Exit 0 when the task is DONE, 1 when not, 2 for bad usage.
 */

export interface RunFlags extends StoreFlags {
  input?: string[];
  inputJson?: string;
  resolverInput?: string[];
  templates: string;
  functions: string;
  scripts: string;
  once?: boolean;
  json?: boolean;
  resume?: string;
}

function inputsOf(flags: RunFlags): {
  input: Record<string, unknown>;
  resolverInput: Record<string, unknown>;
} {
  let input: Record<string, unknown> = {};
  if (flags.inputJson !== undefined) {
    const parsed = parseJson(flags.inputJson, '--input-json');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw usage('--input-json: expected a JSON object');
    }
    input = parsed as Record<string, unknown>;
  }
  return {
    input: { ...input, ...keyValuePairs(flags.input, '--input') },
    resolverInput: keyValuePairs(flags.resolverInput, '--resolver-input'),
  };
}

/** A file path, or a template's name in the templates directory. */
async function loadRequested(
  argument: string,
  flags: RunFlags,
  isKnownAction: (type: string) => boolean,
  actionNames: string[],
): Promise<LoadedTemplate & { functions: FunctionLibrary }> {
  const [{ loadFunctions }, { loadTemplateFile, loadTemplateDirectory }, { templateInvalidError }] =
    await Promise.all([
      import('../../template/function-load.ts'),
      import('../../template/load.ts'),
      import('../../template/errors.ts'),
    ]);
  const options = { isKnownAction, actionNames };
  const { library, issues: functionIssues } = await loadFunctions(flags.functions, options);
  if (functionIssues.length > 0) throw templateInvalidError(functionIssues);
  const isFile = /\.ya?ml$/.test(argument) || argument.includes(path.sep) || fs.existsSync(argument);
  if (isFile) {
    if (!fs.existsSync(argument)) {
      throw new TaskhostError('TH_TEMPLATE_NOT_FOUND', `${argument}: no such file`);
    }
    const { template, issues } = await loadTemplateFile(argument, { ...options, functions: library });
    if (!template) throw templateInvalidError(issues);
    return { ...template, functions: library };
  }
  const { templates, issues } = await loadTemplateDirectory(flags.templates, {
    ...options,
    functions: library,
  });
  const found = templates.get(argument.trim().toLowerCase());
  if (found) return { ...found, functions: library };
  const broken = issues.filter((issue) => path.basename(issue.file).replace(/\.ya?ml$/, '') === argument);
  if (broken.length > 0) throw templateInvalidError(broken);
  throw new TaskhostError(
    'TH_TEMPLATE_NOT_FOUND',
    `no template named ${argument} in ${flags.templates} (known: ${[...templates.keys()].sort().join(', ') || 'none'})`,
  );
}

/**
 * Templates by name for subtask and batch: the templates directory as a server offers it
 * (api/template-catalog.ts), loaded once when a step first asks (a template with errors is
 * not found).
 */
function templateFinder(
  flags: RunFlags,
  names: ReadonlySet<string>,
): (name: string) => Promise<TemplateSnapshot | undefined> {
  let loaded: Promise<TemplateCatalog> | undefined;
  const load = async (): Promise<TemplateCatalog> => {
    const { loadTemplateCatalog } = await import('../../api/template-catalog.ts');
    return (await loadTemplateCatalog(flags.templates, flags.functions, names)).catalog;
  };
  return async (name) => {
    loaded ??= load();
    return (await loaded).find(name);
  };
}

/**
 * One line per step state change on stderr (a TTY only), coloured by outcome, with how many
 * steps are running after it, so a long step still shows the task is alive.
 */
function progressPrinter(): ((step: string, state: string, error: string | null) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const colour = useColour(process.stderr);
  const running = new Set<string>();
  const tint = (state: string) =>
    state === 'DONE'
      ? 'green'
      : state === 'RUNNING'
        ? 'cyan'
        : /ERROR|CRASHED/.test(state)
          ? 'red'
          : 'yellow';
  return (step, state, error) => {
    if (state === 'RUNNING') running.add(step);
    else running.delete(step);
    const time = new Date().toISOString().slice(11, 19);
    const detail = error && state !== 'RUNNING' ? `  ${paint(colour, 'dim', error)}` : '';
    const count = running.size > 0 ? paint(colour, 'dim', `  [${running.size} running]`) : '';
    process.stderr.write(
      `${paint(colour, 'dim', time)} ${step}  ${paint(colour, tint(state), state)}${detail}${count}\n`,
    );
  };
}

export async function runTemplate(
  template: string | undefined,
  flags: RunFlags,
  command: Command,
): Promise<number> {
  if (!template && !flags.resume) throw usage('give a TEMPLATE (a file or a name) or --resume TASK_ID');
  if (template && flags.resume) throw usage('--resume runs an existing task: drop the TEMPLATE');
  const { input, resolverInput } = inputsOf(flags);
  const scriptsDir = path.resolve(flags.scripts);
  const requester = process.env.TASKHOST_USER || os.userInfo().username;
  const settings = await settingsOf(command);
  return withStore(flags, async ({ store, owner, signal }) => {
    const [{ listPlugins }, engine, tasks] = await Promise.all([
      import('../../store/queries/plugins.ts'),
      import('../../engine/engine.ts'),
      import('../../store/queries/tasks.ts'),
    ]);
    const names = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(store)).map((row) => row.name)]);
    let taskId: string;
    let resolutionId: string;
    if (flags.resume) {
      const resolution = await tasks.getResolutionOfTask(store, flags.resume).catch(() => null);
      if (!resolution) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${flags.resume}`);
      taskId = flags.resume;
      resolutionId = resolution.id;
      if (Object.keys(resolverInput).length > 0) {
        await tasks.updateResolution(store, resolutionId, {
          resolverInput: { ...resolution.resolver_input, ...resolverInput },
        });
      }
    } else {
      const load = () => loadRequested(template as string, flags, (type) => names.has(type), [...names]);
      // A template naming plugins of ./tasks that were never registered (no `serve` yet):
      // they are registered, as `serve` would at start, and the template loaded again.
      const loaded = await load().catch(async (error: unknown) => {
        const details = (error as TaskhostError).details;
        const unknownType =
          Array.isArray(details) && details.some((line) => /unknown action type/.test(String(line)));
        if (!unknownType || !fs.existsSync('tasks')) throw error;
        const { registerDirectory } = await import('../../plugins/registry.ts');
        const { registered } = await registerDirectory(store, 'tasks');
        if (registered.length === 0) throw error;
        for (const row of registered) names.add(row.name);
        return load();
      });
      ({ taskId, resolutionId } = await engine.createTask(store, {
        snapshot: engine.snapshotOf(loaded.file, loaded.template, loaded.functions),
        input,
        resolverInput,
        requester,
      }));
    }
    const findTemplate = templateFinder(flags, names);
    const progress = progressPrinter();
    if (progress) process.stderr.write(`taskhost: task ${taskId}\n`);
    const services = engine.engineServices({
      store,
      owner,
      scriptsDir,
      signal,
      onStepState: progress,
      findTemplate,
      runChildren: true,
      config: settings.configValues,
      secrets: settings.secrets,
      resourceLimits: settings.resourceLimits,
    });
    const outcome = await engine.resolveUntilSettled(services, resolutionId, {
      once: flags.once,
      onRetryWait: (until) => {
        if (progress) process.stderr.write(`taskhost: retrying at ${until.toISOString()}\n`);
      },
    });
    const document = await engine.taskDocument(store, taskId);
    if (flags.json) printJson(document);
    else {
      process.stdout.write(`task ${taskId} ${outcome.taskState} (resolution ${outcome.state})\n`);
      // Steps that hold the task up (errors, waits), with why; a custom state's message is not one.
      const failed = Object.entries(document?.steps ?? {}).filter(
        ([, step]) => step.error && /ERROR|CRASHED|TO_RETRY|WAITING/.test(step.state),
      );
      for (const [name, step] of failed) process.stdout.write(`  ${name} ${step.state}: ${step.error}\n`);
    }
    return outcome.taskState === 'DONE' ? 0 : 1;
  });
}
