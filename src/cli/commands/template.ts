import fs from 'node:fs/promises';
import path from 'node:path';
import { TaskhostError } from '../../errors.ts';
import { BUILTIN_ACTIONS } from '../../plugins/builtins.ts';
import { formatIssue, type TemplateIssue } from '../../template/errors.ts';
import { yamlFiles } from '../../template/files.ts';
import { loadFunctions } from '../../template/function-load.ts';
import { loadTemplateFiles, loadTemplatesAndFunctions } from '../../template/load.ts';
import type { CheckOptions } from '../../template/validate.ts';
import type { StoreFlags } from '../context.ts';
import { formatTable, printJson } from '../output.ts';

/**
 * `taskhost template validate FILE...` and `taskhost template list`. Neither needs a
 * store: action types are checked against the builtins and the functions directory, and
 * against the registered plugins only with --plugins (which opens the store).
 */

interface TemplateFlags extends StoreFlags {
  functions: string;
  plugins?: boolean;
}

/** What action types exist: builtins, and the registry's plugins with --plugins. */
async function actionOptions(flags: TemplateFlags): Promise<Omit<CheckOptions, 'functions'>> {
  const names = new Set(BUILTIN_ACTIONS);
  if (flags.plugins) {
    const [{ withStore }, { listPlugins }] = await Promise.all([
      import('../context.ts'),
      import('../../store/queries/plugins.ts'),
    ]);
    for (const row of await withStore(flags, ({ store }) => listPlugins(store))) names.add(row.name);
  }
  return { isKnownAction: (type) => names.has(type), actionNames: [...names] };
}

/** A file argument, or every template file of a directory argument. */
async function expand(argument: string): Promise<string[]> {
  const stat = await fs.stat(argument).catch(() => undefined);
  if (stat?.isDirectory()) return yamlFiles(argument, false);
  return [argument];
}

function printIssues(issues: readonly TemplateIssue[]): void {
  if (issues.length > 0) process.stdout.write(`${issues.map(formatIssue).join('\n')}\n`);
}

function unknownTypeNote(issues: readonly TemplateIssue[], flags: TemplateFlags): void {
  if (!flags.plugins && issues.some((issue) => issue.message.startsWith('unknown action type'))) {
    process.stderr.write('taskhost: registered plugins were not checked as action types (add --plugins)\n');
  }
}

export async function validate(files: string[], flags: TemplateFlags): Promise<number> {
  const expanded = (await Promise.all(files.map(expand))).flat();
  if (expanded.length === 0) {
    throw new TaskhostError('TH_CLI_USAGE', `no template files in ${files.join(', ')}`);
  }
  const options = await actionOptions(flags);
  const { library, issues: functionIssues } = await loadFunctions(flags.functions, options);
  const { issues } = await loadTemplateFiles(expanded, { ...options, functions: library });
  // The functions a template may call are part of what is validated: their issues first.
  printIssues(functionIssues);
  const invalid = new Set(issues.map((issue) => issue.file));
  for (const file of expanded) {
    if (invalid.has(file)) printIssues(issues.filter((issue) => issue.file === file));
    else process.stdout.write(`${file}: ok\n`);
  }
  unknownTypeNote([...functionIssues, ...issues], flags);
  return functionIssues.length > 0 || issues.length > 0 ? 2 : 0;
}

export async function list(flags: TemplateFlags & { templates: string; json?: boolean }): Promise<number> {
  const options = await actionOptions(flags);
  const { templates, issues } = await loadTemplatesAndFunctions(flags.templates, flags.functions, options);
  const rows = [...templates.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (flags.json) {
    printJson(
      rows.map(({ name, file, template }) => ({
        name,
        description: template.description,
        title_format: template.title_format ?? null,
        file,
        steps: Object.keys(template.steps).length,
        hidden: template.hidden,
        blocked: template.blocked,
      })),
    );
  } else if (rows.length === 0) {
    process.stdout.write(`no valid templates in ${flags.templates}\n`);
  } else {
    const cut = (text: string): string => (text.length > 60 ? `${text.slice(0, 59)}…` : text);
    process.stdout.write(
      `${formatTable(
        ['NAME', 'STEPS', 'DESCRIPTION', 'FILE'],
        rows.map(({ name, file, template }) => [
          name,
          String(Object.keys(template.steps).length),
          cut(template.description),
          path.relative('.', file) || file,
        ]),
      )}\n`,
    );
  }
  // Invalid files are not listed; what is wrong with them goes to stderr.
  if (issues.length > 0) process.stderr.write(`${issues.map(formatIssue).join('\n')}\n`);
  unknownTypeNote(issues, flags);
  return issues.length > 0 ? 2 : 0;
}
