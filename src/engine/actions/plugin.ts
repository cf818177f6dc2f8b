import { runPlugin, type RunnablePlugin } from '../../plugins/run-plugin.ts';
import { recordRunProcess } from '../../store/queries/runs.ts';
import type { Store } from '../../store/store.ts';
import { processStartOf } from '../../system/processes.ts';
import { StepState } from '../states.ts';
import { coerceToSchema } from './coerce.ts';
import { ActionError, type ActionContext, type ActionResult, type ActionRunner } from './types.ts';

/**
 * A registered v1 plugin as an action type: the step's rendered configuration is the
 * protocol's `data`, every line it prints joins the task's log, and its result maps to the
 * step (SPEC section 3): status 1 → DONE or the custom state it names, output = payload;
 * otherwise CLIENT_ERROR, FATAL_ERROR or SERVER_ERROR (retried) with the reason. Rendered
 * texts are converted to the numbers and booleans the plugin's `inputs` ask for (coerce.ts).
 *
 * The run row is the engine's (made RUNNING with the step, finished with it); the plugin's
 * process group is recorded in it as soon as it spawns, so that if this process dies, the
 * next taskhost start kills the group (runs/recollect.ts).
 */
export function pluginAction(store: Store, plugin: RunnablePlugin): ActionRunner {
  return {
    type: plugin.name,
    async run(configuration: unknown, context: ActionContext): Promise<ActionResult> {
      const outcome = await runPlugin({
        plugin,
        data: coerceToSchema(configuration ?? {}, plugin.description.inputs),
        meta: {
          runId: context.runId ?? null,
          taskId: context.taskId,
          stepName: context.stepName,
          attempt: context.attempt,
        },
        signal: context.signal,
        onSpawn: (pid) => {
          const start = processStartOf(pid);
          if (context.recordProcess) context.recordProcess(pid, start);
          else if (context.runId) {
            void store
              .retrying((db) => recordRunProcess(db, context.runId as string, pid, start))
              .catch(() => undefined);
          }
        },
        onLine: (line) => context.log(line.stream, line.text),
      });
      const process = {
        result: outcome.result,
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        killReason: outcome.killReason,
        droppedLines: outcome.dropped.lines,
        droppedBytes: outcome.dropped.bytes,
      };
      const produced = { output: outcome.result?.payload, metadata: outcome.result?.metadata, process };
      const failed = (kind: ActionError['kind']): ActionError =>
        new ActionError(kind, outcome.error ?? outcome.state, produced);
      switch (outcome.state) {
        case StepState.DONE:
          return produced;
        case StepState.CLIENT_ERROR:
          throw failed('client');
        case StepState.FATAL_ERROR:
          throw failed('fatal');
        case StepState.SERVER_ERROR:
          throw failed('server');
        default:
          // A custom state the plugin named with status 1.
          return { ...produced, state: outcome.state };
      }
    },
  };
}
