import { TaskhostError } from '../errors.ts';
import type { TaskAudience } from '../store/queries/task-list.ts';
import type { Template } from '../template/types.ts';
import type { Caller } from './identity.ts';
import type { TemplateCatalog } from './template-catalog.ts';

/**
 * Who may do what to a task, as µTask's pkg/auth and api/handler decide it, for the caller
 * of identity.ts (SPEC section 8). Without authentication every caller is an admin and
 * everything passes. Routes ask these rules; none decides a right on its own.
 */

/** What the rules read of a task. */
export interface TaskParties {
  requester_username: string;
  watcher_usernames: readonly string[];
  watcher_groups: readonly string[];
  resolver_usernames: readonly string[];
  resolver_groups: readonly string[];
  template_name: string;
}

type TemplateOwners = Pick<Template, 'allowed_resolver_usernames' | 'allowed_resolver_groups'> &
  Partial<Pick<Template, 'allow_all_resolver_usernames'>>;

/** What the rules read of a resolution. */
export interface ResolutionParties {
  resolver_username: string | null;
}

const meets = (caller: Caller, names: readonly string[], groups: readonly string[]): boolean =>
  names.includes(caller.username) || groups.some((group) => caller.groups.includes(group));

export function isRequester(caller: Caller, task: TaskParties): boolean {
  return task.requester_username === caller.username;
}

export function isWatcher(caller: Caller, task: TaskParties): boolean {
  return meets(caller, task.watcher_usernames, task.watcher_groups);
}

/** µTask's IsTemplateOwner: among the template's allowed resolvers, by name or group. */
export function isTemplateOwner(caller: Caller, template: TemplateOwners | undefined): boolean {
  return (
    template !== undefined &&
    meets(caller, template.allowed_resolver_usernames, template.allowed_resolver_groups)
  );
}

/**
 * µTask's IsResolutionManager: a template owner, one of the task's resolvers (by name or
 * group), or its resolution's resolver; and the requester of a task whose template has
 * `allow_all_resolver_usernames` (µTask makes them the resolver of the resolution it starts).
 */
export function isResolutionManager(
  caller: Caller,
  task: TaskParties,
  template: TemplateOwners | undefined,
  resolverUsername: string | null,
): boolean {
  return (
    isTemplateOwner(caller, template) ||
    meets(caller, task.resolver_usernames, task.resolver_groups) ||
    (resolverUsername !== null && resolverUsername === caller.username) ||
    (template?.allow_all_resolver_usernames === true && isRequester(caller, task))
  );
}

/**
 * The resolver of a task's resolution as µTask knows one: whoever started it. taskhost
 * creates every resolution with the task, its requester written as resolver until someone
 * starts it (engine/tasks.ts); that placeholder makes nobody a resolver. Whoever starts it
 * is also added to the task's resolvers (engine/resolution-control.ts).
 */
export function resolverOf(
  task: TaskParties,
  resolution: ResolutionParties | null | undefined,
): string | null {
  const resolver = resolution?.resolver_username ?? null;
  return resolver === task.requester_username ? null : resolver;
}

/** µTask's GetTask: admins, the requester, the watchers and the resolution managers see a task. */
export function canSeeTask(
  caller: Caller,
  task: TaskParties,
  template: TemplateOwners | undefined,
  resolution: ResolutionParties | null | undefined,
): boolean {
  return (
    caller.admin ||
    isRequester(caller, task) ||
    isWatcher(caller, task) ||
    isResolutionManager(caller, task, template, resolverOf(task, resolution))
  );
}

/** µTask's resolution handlers (create, run, pause, extend, cancel): admins and resolution managers. */
export function canResolve(
  caller: Caller,
  task: TaskParties,
  template: TemplateOwners | undefined,
  resolution: ResolutionParties | null | undefined,
): boolean {
  return caller.admin || isResolutionManager(caller, task, template, resolverOf(task, resolution));
}

/** Throws TH_AUTH_FORBIDDEN with `message` unless `allowed`. */
export function requireRight(allowed: boolean, message: string): void {
  if (!allowed) throw new TaskhostError('TH_AUTH_FORBIDDEN', message);
}

/** The template a task was created from, as the server offers it now (µTask reads the current one). */
export function templateOf(catalog: TemplateCatalog, task: TaskParties): Template | undefined {
  return catalog.templates.get(task.template_name)?.template;
}

/** µTask's list types: whose tasks `GET /task?type=` shows. */
export type ListType = 'own' | 'resolvable' | 'all';

/**
 * The audience of a task list (µTask's ListTasks): `own` are the tasks the caller
 * requested or watches; `resolvable` the ones they may resolve, every task for an admin
 * (who may resolve any); `all` every task for an admin, else the ones they are involved in.
 * Undefined: no restriction.
 */
export function audienceOf(
  caller: Caller,
  type: ListType,
  catalog: TemplateCatalog,
): TaskAudience | undefined {
  if (type !== 'own' && caller.admin) return undefined;
  const templates = [...catalog.templates.values()]
    .filter((loaded) => isTemplateOwner(caller, loaded.template))
    .map((loaded) => loaded.template.name);
  const kind = type === 'own' ? 'requester' : type === 'resolvable' ? 'resolver' : 'involved';
  return { kind, username: caller.username, groups: caller.groups, templates };
}
