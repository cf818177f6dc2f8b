import { compareIssues, type TemplateIssue } from './errors.ts';
import { readSource, yamlFiles } from './files.ts';
import { loadFunctions } from './function-load.ts';
import type { LoadedTemplate, FunctionLibrary } from './types.ts';
import { checkTemplate, type CheckOptions } from './validate.ts';
import { parseYaml, type YamlSource } from './yaml-source.ts';

/**
 * Loading templates: one file, a text, or a directory (default `templates/`, its `*.yaml`
 * and `*.yml` files, not its subfolders), with the functions of `templates/functions/`.
 * A template is known by its `name` (normalised as µTask does), never by its file name;
 * two files with one name are both refused, each issue naming the other file.
 */

export interface TemplateLoadResult {
  /** Set when the file is valid. */
  template?: LoadedTemplate;
  /** Every issue of the file, sorted by position; empty when valid. */
  issues: TemplateIssue[];
}

function fromSource(source: YamlSource, options: CheckOptions): TemplateLoadResult {
  const { issues, template } = checkTemplate(source, options);
  if (!template) return { issues };
  return {
    template: { name: template.name, file: source.file, template, positions: source.positions },
    issues,
  };
}

/** Loads a template from its text (`file` names it in issues and positions). */
export function loadTemplateText(file: string, text: string, options: CheckOptions): TemplateLoadResult {
  const { source, issues } = parseYaml(file, text);
  return source ? fromSource(source, options) : { issues };
}

/** Loads one template file. */
export async function loadTemplateFile(file: string, options: CheckOptions): Promise<TemplateLoadResult> {
  const { source, issues } = await readSource(file);
  return source ? fromSource(source, options) : { issues };
}

/**
 * Loads several template files; templates sharing a name are refused (both of them).
 * Returns the valid templates by name and every issue, sorted by file and position.
 */
export async function loadTemplateFiles(
  files: readonly string[],
  options: CheckOptions,
): Promise<{ templates: Map<string, LoadedTemplate>; issues: TemplateIssue[] }> {
  const results = await Promise.all(files.map((file) => loadTemplateFile(file, options)));
  const issues = results.flatMap((result) => result.issues);
  const byName = new Map<string, LoadedTemplate[]>();
  for (const { template } of results) {
    if (template) byName.set(template.name, [...(byName.get(template.name) ?? []), template]);
  }
  const templates = new Map<string, LoadedTemplate>();
  for (const [name, loaded] of byName) {
    if (loaded.length === 1) {
      templates.set(name, loaded[0] as LoadedTemplate);
      continue;
    }
    for (const template of loaded) {
      const others = loaded.filter((other) => other !== template).map((other) => other.file);
      issues.push({
        ...template.positions.at(['name']),
        path: 'name',
        message: `template name "${name}" is also used by ${others.join(', ')}`,
      });
    }
  }
  return { templates, issues: issues.sort(compareIssues) };
}

/** Loads every template of a directory (TH_TEMPLATE_NOT_FOUND when it does not exist). */
export async function loadTemplateDirectory(
  dir: string,
  options: CheckOptions,
): Promise<{ templates: Map<string, LoadedTemplate>; issues: TemplateIssue[] }> {
  return loadTemplateFiles(await yamlFiles(dir, false), options);
}

/**
 * What a taskhost process starts with: the functions of `functionsDir` (missing: none),
 * then the templates of `templatesDir` that may use them. Function issues come first.
 */
export async function loadTemplatesAndFunctions(
  templatesDir: string,
  functionsDir: string,
  options: Omit<CheckOptions, 'functions'>,
): Promise<{ templates: Map<string, LoadedTemplate>; functions: FunctionLibrary; issues: TemplateIssue[] }> {
  const { library, issues: functionIssues } = await loadFunctions(functionsDir, options);
  const { templates, issues } = await loadTemplateDirectory(templatesDir, { ...options, functions: library });
  return { templates, functions: library, issues: [...functionIssues, ...issues] };
}
