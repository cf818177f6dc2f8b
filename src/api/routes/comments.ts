import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import {
  deleteComment,
  getComment,
  insertComment,
  listComments,
  updateComment,
  type CommentRow,
} from '../../store/queries/comments.ts';
import { getResolutionOfTask } from '../../store/queries/tasks.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf, type Caller } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { canSeeTask, isRequester, isWatcher, requireRight, templateOf } from '../task-rights.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { errorResponses } from '../error-schema.ts';
import { COMMENT_MIN, commentText } from '../task-fields.ts';
import { loadTask, taskIdParams } from './tasks.ts';

const commentParams = {
  type: 'object',
  required: ['id', 'commentid'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    commentid: { type: 'string', format: 'uuid' },
  },
} as const;

const commentBody = {
  type: 'object',
  required: ['content'],
  additionalProperties: false,
  properties: { content: { ...commentText, minLength: COMMENT_MIN } },
} as const;

/** A comment as µTask shows it. */
const commentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    content: { type: 'string' },
    created: { type: 'string', format: 'date-time' },
    updated: { type: 'string', format: 'date-time' },
  },
} as const;

function commentOf(row: CommentRow): Record<string, unknown> {
  return {
    id: row.id,
    username: row.username,
    content: row.content,
    created: new Date(row.created_at).toISOString(),
    updated: new Date(row.updated_at).toISOString(),
  };
}

/**
 * µTask's comment routes. A task's requester, watchers and resolution managers (and
 * admins) comment and read comments; a comment is edited or deleted by its author or an
 * admin. A comment asked for under another task is not found there.
 */
export function commentRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  /** The task, once the caller is known to take part in it (µTask's CreateComment, ListComments). */
  const partOf = async (caller: Caller, taskId: string, action: string): Promise<void> => {
    const task = await loadTask(deps.store, taskId);
    if (caller.admin || isRequester(caller, task) || isWatcher(caller, task)) return;
    const resolution = await getResolutionOfTask(deps.store, taskId);
    requireRight(
      canSeeTask(caller, task, templateOf(catalog, task), resolution),
      `can't ${action} comments of task ${taskId}`,
    );
  };

  /** A comment of the task, or TH_COMMENT_NOT_FOUND. */
  const loadComment = async (taskId: string, id: string): Promise<CommentRow> => {
    await loadTask(deps.store, taskId);
    const comment = await getComment(deps.store, taskId, id);
    if (!comment) throw new TaskhostError('TH_COMMENT_NOT_FOUND', `no comment ${id} on task ${taskId}`);
    return comment;
  };

  /** µTask's rule for changing a comment: its author or an admin. */
  const authorOrAdmin = async (request: FastifyRequest, action: string): Promise<CommentRow> => {
    const { id, commentid } = request.params as { id: string; commentid: string };
    const comment = await loadComment(id, commentid);
    const caller = callerOf(request);
    requireRight(
      caller.admin || caller.username === comment.username,
      `only its author or an admin may ${action} comment ${commentid}`,
    );
    return comment;
  };

  app.post(
    '/task/:id/comment',
    {
      schema: {
        summary: 'Comment on a task',
        tags: ['comments'],
        params: taskIdParams,
        body: commentBody,
        response: { 201: commentSchema, ...errorResponses(400, 403, 404, 413) },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { content } = request.body as { content: string };
      const caller = callerOf(request);
      await partOf(caller, id, 'add');
      const row = await insertComment(deps.store, {
        id: randomUUID(),
        taskId: id,
        username: caller.username,
        content,
      });
      return reply.status(201).send(commentOf(row));
    },
  );

  app.get(
    '/task/:id/comment',
    {
      schema: {
        summary: "A task's comments, oldest first",
        tags: ['comments'],
        params: taskIdParams,
        querystring: { type: 'object', additionalProperties: false, properties: formatQuery },
        response: { 200: { type: 'array', items: commentSchema }, ...errorResponses(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { format } = request.query as { format: ListFormat };
      await partOf(callerOf(request), id, 'read');
      return sendList(reply, format, (await listComments(deps.store, id)).map(commentOf), 'comment');
    },
  );

  app.get(
    '/task/:id/comment/:commentid',
    {
      schema: {
        summary: 'A comment of a task',
        tags: ['comments'],
        params: commentParams,
        response: { 200: commentSchema, ...errorResponses(400, 403, 404) },
      },
    },
    async (request) => {
      const { id, commentid } = request.params as { id: string; commentid: string };
      await partOf(callerOf(request), id, 'read');
      return commentOf(await loadComment(id, commentid));
    },
  );

  app.put(
    '/task/:id/comment/:commentid',
    {
      schema: {
        summary: 'Edit a comment (its author or an admin)',
        tags: ['comments'],
        params: commentParams,
        body: commentBody,
        response: { 200: commentSchema, ...errorResponses(400, 403, 404, 413) },
      },
    },
    async (request) => {
      const comment = await authorOrAdmin(request, 'edit');
      const { content } = request.body as { content: string };
      const row = await updateComment(deps.store, comment.task_id, comment.id, content);
      if (!row) throw new TaskhostError('TH_COMMENT_NOT_FOUND', `no comment ${comment.id}`);
      return commentOf(row);
    },
  );

  app.delete(
    '/task/:id/comment/:commentid',
    {
      schema: {
        summary: 'Delete a comment (its author or an admin)',
        tags: ['comments'],
        params: commentParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const comment = await authorOrAdmin(request, 'delete');
      if (!(await deleteComment(deps.store, comment.task_id, comment.id))) {
        throw new TaskhostError('TH_COMMENT_NOT_FOUND', `no comment ${comment.id}`);
      }
      return reply.status(204).send();
    },
  );
}
