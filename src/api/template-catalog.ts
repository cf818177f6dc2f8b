import { snapshotOf, type TemplateSnapshot } from '../engine/engine.ts';
import { TaskhostError } from '../errors.ts';
import type { TemplateIssue } from '../template/errors.ts';
import { loadTemplatesAndFunctions } from '../template/load.ts';
import type { FunctionLibrary, LoadedTemplate } from '../template/types.ts';

/**
 * The templates a server offers: the valid ones of its templates directory, with the
 * functions they may call, loaded once at start. A template with errors is not offered
 * (its issues are reported at start); a task keeps the snapshot it was created with, so
 * what is loaded here only matters for new tasks.
 */
export class TemplateCatalog {
  readonly templates: ReadonlyMap<string, LoadedTemplate>;
  readonly functions: FunctionLibrary;

  constructor(templates: ReadonlyMap<string, LoadedTemplate>, functions: FunctionLibrary) {
    this.templates = templates;
    this.functions = functions;
  }

  static empty(): TemplateCatalog {
    return new TemplateCatalog(new Map(), { functions: new Map(), invalid: new Set() });
  }

  /** The templates sorted by name (code point order, the order `last` pages in). */
  list(): LoadedTemplate[] {
    return [...this.templates.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A template by name (normalised as µTask does), or TH_TEMPLATE_NOT_FOUND. */
  get(name: string): LoadedTemplate {
    const found = this.templates.get(name.trim().toLowerCase());
    if (!found) throw new TaskhostError('TH_TEMPLATE_NOT_FOUND', `no template named ${name}`);
    return found;
  }

  /** The snapshot of a template by name, or undefined (subtask and batch steps ask). */
  find(name: string): TemplateSnapshot | undefined {
    return this.templates.has(name.trim().toLowerCase()) ? this.snapshot(name) : undefined;
  }

  /** What a new task of a template stores: the template and the functions it goes through. */
  snapshot(name: string): TemplateSnapshot {
    const loaded = this.get(name);
    return snapshotOf(loaded.file, loaded.template, this.functions);
  }
}

/**
 * Loads a server's catalog: the functions of `functionsDir`, then the templates of
 * `templatesDir` (either missing: none), checking action types against `actionNames`.
 * Returns the issues of everything that was left out.
 */
export async function loadTemplateCatalog(
  templatesDir: string,
  functionsDir: string,
  actionNames: ReadonlySet<string>,
): Promise<{ catalog: TemplateCatalog; issues: TemplateIssue[] }> {
  try {
    const { templates, functions, issues } = await loadTemplatesAndFunctions(templatesDir, functionsDir, {
      isKnownAction: (type) => actionNames.has(type),
      actionNames: [...actionNames],
    });
    return { catalog: new TemplateCatalog(templates, functions), issues };
  } catch (error) {
    // No templates directory: a server of plugins only.
    if ((error as { code?: string }).code === 'TH_TEMPLATE_NOT_FOUND') {
      return { catalog: TemplateCatalog.empty(), issues: [] };
    }
    throw error;
  }
}
