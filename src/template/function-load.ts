import { checkAction, checkPreHooks } from './actions.ts';
import { checkConditions, THIS } from './conditions.ts';
import { isRecord, type Data } from './data.ts';
import { compareIssues, IssueList, type TemplateIssue } from './errors.ts';
import { readSource, yamlFiles } from './files.ts';
import { functionChain } from './functions.ts';
import { normaliseFunction } from './normalise.ts';
import { checkShape } from './schema-check.ts';
import { checkCustomStates } from './states.ts';
import { checkStrings } from './strings.ts';
import type { FunctionLibrary, LoadedFunction } from './types.ts';
import type { CheckOptions } from './validate.ts';
import type { YamlSource } from './yaml-source.ts';

/**
 * Functions from templates/functions/ (µTask's format: name, description, action,
 * pre_hook, conditions, custom_states; `{{function_args.X}}` in the action's
 * configuration). Loaded in two passes, since functions call each other: each file on its
 * own (YAML, shape, states, conditions' assertions, Handlebars), then the set (unique
 * names, known action types, the arguments a nested function needs, cycles, pre_hooks,
 * what conditions may set).
 */

interface Candidate {
  source: YamlSource;
  data: Data;
  issues: IssueList;
  loaded?: LoadedFunction;
}

/** Loads every function of a directory (recursively); a missing directory is an empty library. */
export async function loadFunctions(
  dir: string,
  options: Omit<CheckOptions, 'functions'>,
): Promise<{ library: FunctionLibrary; issues: TemplateIssue[] }> {
  let files: string[];
  try {
    files = await yamlFiles(dir, true);
  } catch (error) {
    if ((error as { code?: string }).code === 'TH_TEMPLATE_NOT_FOUND') {
      return { library: { functions: new Map(), invalid: new Set() }, issues: [] };
    }
    throw error;
  }
  const issues: TemplateIssue[] = [];
  const candidates: Candidate[] = [];
  for (const file of files) {
    const read = await readSource(file);
    issues.push(...read.issues);
    if (read.source) candidates.push(firstPass(read.source));
  }
  return {
    ...secondPass(candidates, options),
    issues: [...issues, ...collect(candidates)].sort(compareIssues),
  };
}

function firstPass(source: YamlSource): Candidate {
  const issues = new IssueList(source.positions);
  const data = isRecord(source.data) ? source.data : {};
  if (!isRecord(source.data)) {
    issues.add([], 'a function is a map with at least name and action');
  } else {
    checkShape('function', data, issues);
    checkCustomStates(data.custom_states, ['custom_states'], issues);
    checkStrings(source, issues);
  }
  const candidate: Candidate = { source, data, issues };
  if (issues.length === 0) {
    const definition = normaliseFunction(data);
    candidate.loaded = {
      name: definition.name,
      file: source.file,
      function: definition,
      positions: source.positions,
    };
  }
  return candidate;
}

function secondPass(
  candidates: Candidate[],
  options: Omit<CheckOptions, 'functions'>,
): { library: FunctionLibrary } {
  // Every readable function is visible to the others while they are checked, so that one
  // broken file is reported once, not again in each function that calls it.
  const tentative = new Map<string, LoadedFunction>();
  const invalid = new Set<string>();
  const files = new Map<string, string[]>();
  for (const candidate of candidates) {
    if (typeof candidate.data.name !== 'string') continue;
    files.set(candidate.data.name, [...(files.get(candidate.data.name) ?? []), candidate.source.file]);
  }
  for (const candidate of candidates) {
    const name = typeof candidate.data.name === 'string' ? candidate.data.name : undefined;
    if (name === undefined) continue;
    const others = (files.get(name) ?? []).filter((file) => file !== candidate.source.file);
    if (others.length > 0) {
      candidate.issues.add(['name'], `function "${name}" is also defined in ${others.join(', ')}`);
      invalid.add(name);
    } else if (candidate.loaded) {
      tentative.set(name, candidate.loaded);
    } else {
      invalid.add(name);
    }
  }
  const library: FunctionLibrary = { functions: tentative, invalid };
  const scope = { isKnownAction: options.isKnownAction, actionNames: options.actionNames ?? [], library };
  for (const candidate of candidates) {
    const { data, issues, loaded } = candidate;
    if (!loaded || tentative.get(loaded.name) !== loaded) continue;
    if (options.isKnownAction(loaded.name)) {
      issues.add(
        ['name'],
        `"${loaded.name}" is already an action type (a builtin or a plugin): a function needs its own name`,
      );
    }
    checkAction(data.action, ['action'], scope, issues);
    checkAction(data.pre_hook, ['pre_hook'], scope, issues);
    const { cycle } = functionChain(loaded.name, library);
    if (cycle) issues.add(['action', 'type'], `functions call each other in a cycle: ${cycle.join(' -> ')}`);
    else checkPreHooks(data, [], scope, issues);
    const states = [...loaded.function.custom_states];
    for (const nested of cycle ? [] : functionChain(loaded.name, library).chain) {
      for (const state of nested.function.custom_states) if (!states.includes(state)) states.push(state);
    }
    checkConditions(
      data.conditions,
      ['conditions'],
      { foreach: false, graph: new Map(), customStates: (step) => (step === THIS ? states : []) },
      issues,
    );
  }
  const functions = new Map<string, LoadedFunction>();
  for (const candidate of candidates) {
    const loaded = candidate.loaded;
    if (!loaded || tentative.get(loaded.name) !== loaded) continue;
    if (candidate.issues.length === 0) functions.set(loaded.name, loaded);
    else invalid.add(loaded.name);
  }
  return { library: { functions, invalid } };
}

function collect(candidates: Candidate[]): TemplateIssue[] {
  return candidates.flatMap((candidate) => candidate.issues.sorted());
}
