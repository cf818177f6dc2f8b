import type { IssueList } from './errors.ts';
import { functionChain, hasArgument } from './functions.ts';
import { isRecord } from './data.ts';
import { didYouMean } from './suggest.ts';
import type { FieldPath, FunctionLibrary } from './types.ts';

/**
 * Checks of an action or pre_hook (µTask validExecutor): a known type, an existing
 * base_configuration, a consistent output, the arguments a function needs, and pre_hooks
 * that do not collide along a chain of functions.
 */

/** What action types exist where a template or function is checked. */
export interface ActionScope {
  /** Builtins and registered plugins (supplied by the caller: this module never reads the store). */
  isKnownAction: (type: string) => boolean;
  /** Names offered as "did you mean" for an unknown type (builtins, plugins). */
  actionNames: readonly string[];
  library: FunctionLibrary;
}

export function isKnownType(type: string, scope: ActionScope): boolean {
  return scope.library.functions.has(type) || scope.library.invalid.has(type) || scope.isKnownAction(type);
}

/**
 * Checks one action. `baseConfigurations` lists the template's base configurations (absent
 * in a function, which has none).
 */
export function checkAction(
  action: unknown,
  path: FieldPath,
  scope: ActionScope,
  issues: IssueList,
  baseConfigurations?: readonly string[],
): void {
  if (!isRecord(action)) return;
  const type = typeof action.type === 'string' ? action.type : undefined;
  if (type !== undefined && type !== '' && !isKnownType(type, scope)) {
    const names = [...scope.actionNames, ...scope.library.functions.keys(), ...scope.library.invalid];
    issues.add([...path, 'type'], `unknown action type "${type}"${didYouMean(type, names)}`);
  }
  if (typeof action.base_configuration === 'string' && baseConfigurations) {
    const name = action.base_configuration;
    if (!baseConfigurations.includes(name)) {
      issues.add(
        [...path, 'base_configuration'],
        `unknown base_configuration "${name}"${didYouMean(name, baseConfigurations)}${baseConfigurations.length === 0 ? ' (the template has no base_configurations)' : ''}`,
      );
    }
  }
  if (action.base_output !== undefined && action.output !== undefined) {
    issues.add(
      [...path, 'base_output'],
      'base_output and output are both set: base_output is the deprecated form of output {strategy: merge}, keep output',
      'key',
    );
  }
  if (isRecord(action.output) && action.output.strategy === 'merge' && action.output.format !== undefined) {
    if (!isRecord(action.output.format)) {
      issues.add(
        [...path, 'output', 'format'],
        'with strategy merge, format must be a map (merged into the output)',
      );
    }
  }
  const called = type === undefined ? undefined : scope.library.functions.get(type);
  if (called) {
    for (const argument of called.function.function_args) {
      if (!hasArgument(action.configuration, argument)) {
        const where = action.configuration === undefined ? path : [...path, 'configuration'];
        issues.add(
          where,
          `function "${called.name}" needs configuration.${argument} (its action reads {{function_args.${argument}}})`,
        );
      }
    }
  }
}

/**
 * pre_hooks along a step's (or a function's) chain: µTask runs one, so an own pre_hook and
 * a function's, or two functions', collide; and a pre_hook's own action may not bring one.
 */
export function checkPreHooks(
  owner: Record<string, unknown>,
  path: FieldPath,
  scope: ActionScope,
  issues: IssueList,
): void {
  const type =
    isRecord(owner.action) && typeof owner.action.type === 'string' ? owner.action.type : undefined;
  const chain = type === undefined ? [] : functionChain(type, scope.library).chain;
  const withPreHook = chain
    .filter((loaded) => loaded.function.pre_hook !== undefined)
    .map((loaded) => loaded.name);
  const own = isRecord(owner.pre_hook);
  if (own && withPreHook.length > 0) {
    issues.add(
      [...path, 'pre_hook'],
      `function "${withPreHook[0] as string}" already has a pre_hook: a step runs one pre_hook, keep one of them`,
      'key',
    );
  } else if (withPreHook.length > 1) {
    issues.add(
      [...path, 'action', 'type'],
      `functions ${withPreHook.map((name) => `"${name}"`).join(' and ')} both have a pre_hook: a step runs one`,
    );
  }
  if (own && isRecord(owner.pre_hook) && typeof owner.pre_hook.type === 'string') {
    const nested = functionChain(owner.pre_hook.type, scope.library).chain.find(
      (loaded) => loaded.function.pre_hook,
    );
    if (nested) {
      issues.add(
        [...path, 'pre_hook', 'type'],
        `a pre_hook cannot have a pre_hook of its own, and function "${nested.name}" has one`,
      );
    }
  }
}
