import type { FastifyInstance } from 'fastify';
import { cancelTask, requestRun } from '../../engine/engine.ts';
import { extendResolution, pauseResolution, startResolution } from '../../engine/resolution-control.ts';
import {
  definitionOf,
  resolutionDocument,
  snapshotOfRow,
  stepDocument,
  type ResolutionDocument,
} from '../../engine/resolution-document.ts';
import { editResolution, setStepState } from '../../engine/step-edits.ts';
import { TaskhostError } from '../../errors.ts';
import { BUILTIN_ACTIONS } from '../../plugins/builtins.ts';
import { listPlugins } from '../../store/queries/plugins.ts';
import { loadSteps } from '../../store/queries/tasks.ts';
import type { CheckOptions } from '../../template/validate.ts';
import { callerOf, type Caller } from '../identity.ts';
import { requireAdmin, resolutionWithRight, taskWithRight } from '../task-access.ts';
import type { ServerDeps } from '../services.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import {
  anyObject,
  resolutionDocumentSchema,
  resolutionIdParams,
  stepDocumentSchema,
  stepEditOf,
  stepEditSchema,
  stepParams,
  stepState,
  type StepEditBody,
} from './resolution-schemas.ts';
import { errorSchema } from '../error-schema.ts';

async function loadResolutionDocument(deps: ServerDeps, id: string): Promise<ResolutionDocument> {
  const document = await resolutionDocument(deps.store, id);
  if (!document) throw new TaskhostError('TH_TASK_NOT_FOUND', `no resolution ${id}`);
  return document;
}

/**
 * µTask's resolution routes (api/handler/resolution.go): start (µTask's create), read,
 * edit, run, pause, extend and cancel a task's resolution, and read, edit and set the state
 * of one of its steps. Every change is one transaction that locks the resolution row and
 * tells live task streams (src/engine/resolution-control.ts, step-edits.ts).
 *
 * µTask reserves the edits (PUT) and a forced pause to admins, and the rest to admins and
 * the task's resolution managers (task-rights.ts); reading one takes the right to see its
 * task. Every right is checked before the resolution's state.
 */
export function resolutionRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();
  /** The resolution `id`, if `caller` may resolve it (µTask's resolution managers); else 403 naming `action`. */
  const managed = (caller: Caller, id: string, action: string) =>
    resolutionWithRight(
      deps.store,
      catalog,
      caller,
      id,
      'resolve',
      `you are not allowed to ${action} resolution ${id}`,
    );
  /** The resolution `id`, if `caller` may see its task (GET routes); else 403. */
  const visible = (caller: Caller, id: string) =>
    resolutionWithRight(deps.store, catalog, caller, id, 'see', `can't display resolution ${id}`);

  /** What a step definition may use: builtins, the registered plugins, the server's functions. */
  const stepChecks = async (): Promise<CheckOptions> => {
    const names = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(deps.store)).map((row) => row.name)]);
    return {
      isKnownAction: (type) => names.has(type),
      actionNames: [...names],
      functions: catalog.functions,
    };
  };

  app.post(
    '/resolution',
    {
      schema: {
        summary:
          "Start a task's resolution (µTask's create): its resolver inputs checked, due now on any instance; " +
          'one that already ran only with start_over, where its template allows it',
        tags: ['resolutions'],
        body: {
          type: 'object',
          required: ['task_id'],
          additionalProperties: false,
          properties: {
            task_id: { type: 'string', format: 'uuid' },
            resolver_inputs: anyObject,
            start_over: { type: 'boolean', default: false },
          },
        },
        response: {
          201: resolutionDocumentSchema,
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        task_id: string;
        resolver_inputs?: Record<string, unknown>;
        start_over: boolean;
      };
      const caller = callerOf(request);
      await taskWithRight(
        deps.store,
        catalog,
        caller,
        body.task_id,
        'resolve',
        `you are not allowed to resolve task ${body.task_id}`,
      );
      const id = await startResolution(deps.store, {
        taskId: body.task_id,
        resolverInputs: body.resolver_inputs,
        startOver: body.start_over,
        resolver: caller.username,
      });
      return reply.status(201).send(await loadResolutionDocument(deps, id));
    },
  );

  app.get(
    '/resolution/:id',
    {
      schema: {
        summary: 'A resolution: its state, counters, resolver inputs, holding instance and every step',
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: { 200: resolutionDocumentSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await visible(callerOf(request), id);
      return loadResolutionDocument(deps, id);
    },
  );

  app.put(
    '/resolution/:id',
    {
      schema: {
        summary:
          'Edit a resolution (admin): its resolver inputs, and steps by name (definition and state); ' +
          'refused while it runs or once done or cancelled',
        tags: ['resolutions'],
        params: resolutionIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            resolver_inputs: anyObject,
            steps: { type: 'object', additionalProperties: stepEditSchema },
          },
        },
        response: {
          204: { type: 'null' },
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      requireAdmin(callerOf(request), 'only admins edit a resolution');
      const body = request.body as {
        resolver_inputs?: Record<string, unknown>;
        steps?: Record<string, StepEditBody>;
      };
      const fieldOf = (step: string): string => `body/steps/${step}`;
      await editResolution(
        deps.store,
        id,
        {
          resolverInputs: body.resolver_inputs,
          steps: body.steps
            ? Object.fromEntries(
                Object.entries(body.steps).map(([name, step]) => [
                  name,
                  stepEditOf(step, name, fieldOf(name)),
                ]),
              )
            : undefined,
        },
        {
          by: callerOf(request).username,
          checks: await stepChecks(),
          fieldOf,
          unknownStep: 'invalid',
          comment: () => 'manually updated resolution',
        },
      );
      return reply.status(204).send();
    },
  );

  app.post(
    '/resolution/:id/run',
    {
      schema: {
        summary:
          'Run a resolution now (on whichever instance claims it); a paused or blocked one resumes; ' +
          'refused once done or cancelled, or while it runs',
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: {
          204: { type: 'null' },
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      await managed(callerOf(request), id, 'run');
      await requestRun(deps.store, id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/resolution/:id/pause',
    {
      schema: {
        summary:
          'Pause a resolution: no instance takes it until it is run again. Refused once done or cancelled, ' +
          'and while RUNNING, unless ?force=true (admin)',
        tags: ['resolutions'],
        params: resolutionIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { force: { type: 'boolean', default: false } },
        },
        response: {
          204: { type: 'null' },
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { force } = request.query as { force: boolean };
      const caller = callerOf(request);
      await managed(caller, id, 'pause');
      if (force) requireAdmin(caller, 'only admins force a pause');
      await pauseResolution(deps.store, id, { force, by: caller.username });
      return reply.status(204).send();
    },
  );

  app.post(
    '/resolution/:id/extend',
    {
      schema: {
        summary:
          "Give a BLOCKED_MAXRETRIES resolution its template's retry_max runs more, due now (any other state: 409)",
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: { 204: { type: 'null' }, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const caller = callerOf(request);
      await managed(caller, id, 'extend');
      await extendResolution(deps.store, id, { by: caller.username });
      return reply.status(204).send();
    },
  );

  app.post(
    '/resolution/:id/cancel',
    {
      schema: {
        summary: 'Cancel a resolution and its task (refused while it runs, or once it is done or cancelled)',
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: { 204: { type: 'null' }, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const resolution = await managed(callerOf(request), id, 'cancel');
      await cancelTask(deps.store, resolution.task_id);
      return reply.status(204).send();
    },
  );

  app.get(
    '/resolution/:id/step/:stepName',
    {
      schema: {
        summary: 'A step of a resolution: its definition (as a template file writes it) and its state',
        tags: ['resolutions'],
        params: stepParams,
        response: { 200: stepDocumentSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { id, stepName } = request.params as { id: string; stepName: string };
      const row = await visible(callerOf(request), id);
      const step = (await loadSteps(deps.store, id)).find((candidate) => candidate.name === stepName);
      if (!step) throw new TaskhostError('TH_TASK_NOT_FOUND', `no step ${stepName} in resolution ${id}`);
      return stepDocument(step, definitionOf(step, snapshotOfRow(row).template.steps));
    },
  );

  app.put(
    '/resolution/:id/step/:stepName',
    {
      schema: {
        summary:
          "Edit a step of a resolution (admin): its definition, given whole and checked as a template file's, " +
          'and any of its state, output, metadata, children, error, try_count; refused while it runs or once final',
        tags: ['resolutions'],
        params: stepParams,
        body: stepEditSchema,
        response: {
          204: { type: 'null' },
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id, stepName } = request.params as { id: string; stepName: string };
      requireAdmin(callerOf(request), 'only admins edit steps');
      await editResolution(
        deps.store,
        id,
        { steps: { [stepName]: stepEditOf(request.body as StepEditBody, stepName, 'body') } },
        {
          by: callerOf(request).username,
          checks: await stepChecks(),
          fieldOf: () => 'body',
          unknownStep: 'not-found',
          comment: () => `manually updated resolution step ${stepName}`,
        },
      );
      return reply.status(204).send();
    },
  );

  app.put(
    '/resolution/:id/step/:stepName/state',
    {
      schema: {
        summary:
          "Set a step's state (admin): a builtin state or one of its custom states, e.g. TODO to run it again; " +
          'refused while the resolution runs or once final',
        tags: ['resolutions'],
        params: stepParams,
        body: {
          type: 'object',
          required: ['state'],
          additionalProperties: false,
          properties: { state: stepState },
        },
        response: {
          204: { type: 'null' },
          400: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id, stepName } = request.params as { id: string; stepName: string };
      const { state } = request.body as { state: string };
      requireAdmin(callerOf(request), 'only admins set the state of a step');
      await setStepState(deps.store, id, stepName, state, {
        by: callerOf(request).username,
        checks: await stepChecks(),
      });
      return reply.status(204).send();
    },
  );
}
