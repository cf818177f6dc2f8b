import { randomUUID } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import { insertBatch } from '../store/queries/batches.ts';
import type { Store } from '../store/store.ts';
import type { TemplateSnapshot } from './snapshot.ts';
import { insertPreparedTasks, prepareTask, type PreparedTask } from './tasks.ts';

/** What µTask's POST /batch needs: one task per input, all of one template. */
export interface NewBatchRequest {
  snapshot: TemplateSnapshot;
  inputs: readonly Record<string, unknown>[];
  /** Merged into every input; a key in both is refused (µTask's mergeMaps). */
  commonInput?: Record<string, unknown>;
  requester: string;
  requesterGroups?: string[];
  comment?: string;
  watcherUsernames?: string[];
  watcherGroups?: string[];
  tags?: Record<string, string>;
  config?: Record<string, unknown>;
}

export interface CreatedBatch {
  batchId: string;
  taskIds: string[];
}

/**
 * Creates a batch and a task per input (µTask's CreateBatch with batch.Populate), all or
 * nothing: every input is checked first (a refused one is named `inputs[i].name`), then the
 * batch and its tasks are stored in one transaction.
 */
export async function createBatch(store: Store, request: NewBatchRequest): Promise<CreatedBatch> {
  const batchId = randomUUID();
  const prepared: PreparedTask[] = [];
  for (const [index, input] of request.inputs.entries()) {
    const root = `inputs[${index}]`;
    const conflict = Object.keys(request.commonInput ?? {}).find((key) => key in input);
    if (conflict !== undefined) {
      throw new TaskhostError('TH_TASK_INPUT_INVALID', `${root}.${conflict}: also in common_input`);
    }
    prepared.push(
      await prepareTask(
        {
          snapshot: request.snapshot,
          input: { ...input, ...request.commonInput },
          requester: request.requester,
          requesterGroups: request.requesterGroups,
          comment: request.comment,
          watcherUsernames: request.watcherUsernames,
          watcherGroups: request.watcherGroups,
          tags: request.tags,
          config: request.config,
          batchId,
        },
        root,
      ),
    );
  }
  await store.transaction(async (db) => {
    await insertBatch(db, batchId);
    await insertPreparedTasks(db, prepared);
  });
  return { batchId, taskIds: prepared.map((task) => task.taskId) };
}
