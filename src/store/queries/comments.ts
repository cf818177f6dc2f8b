import type { ValueCodec } from '../crypto/codec.ts';
import type { Queryable } from '../store.ts';

/** A comment on a task (µTask's task_comment). */
export interface CommentRow {
  id: string;
  task_id: string;
  username: string;
  content: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, task_id, username, content, created_at, updated_at';

/** A comment as read, its content decrypted (comments are encrypted at rest). */
function commentFromRow(codec: ValueCodec, row: CommentRow): CommentRow {
  return { ...row, content: codec.readText(row.content) };
}

export async function insertComment(
  db: Queryable,
  comment: { id: string; taskId: string; username: string; content: string },
): Promise<CommentRow> {
  const { rows } = await db.query<CommentRow>(
    `INSERT INTO comment (id, task_id, username, content) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [comment.id, comment.taskId, comment.username, db.codec.text(comment.content)],
  );
  return commentFromRow(db.codec, rows[0] as CommentRow);
}

/** A task's comments, oldest first. */
export async function listComments(db: Queryable, taskId: string): Promise<CommentRow[]> {
  const { rows } = await db.query<CommentRow>(
    `SELECT ${COLUMNS} FROM comment WHERE task_id = $1 ORDER BY created_at, id`,
    [taskId],
  );
  return rows.map((row) => commentFromRow(db.codec, row));
}

/** A comment of a task, or null (none with that id, or it belongs to another task). */
export async function getComment(db: Queryable, taskId: string, id: string): Promise<CommentRow | null> {
  const { rows } = await db.query<CommentRow>(
    `SELECT ${COLUMNS} FROM comment WHERE id = $1 AND task_id = $2`,
    [id, taskId],
  );
  return rows[0] ? commentFromRow(db.codec, rows[0]) : null;
}

export async function updateComment(
  db: Queryable,
  taskId: string,
  id: string,
  content: string,
): Promise<CommentRow | null> {
  const { rows } = await db.query<CommentRow>(
    `UPDATE comment SET content = $3, updated_at = now() WHERE id = $1 AND task_id = $2 RETURNING ${COLUMNS}`,
    [id, taskId, db.codec.text(content)],
  );
  return rows[0] ? commentFromRow(db.codec, rows[0]) : null;
}

/** Deletes a comment of a task; false when there was none. */
export async function deleteComment(db: Queryable, taskId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM comment WHERE id = $1 AND task_id = $2', [id, taskId]);
  return (rowCount ?? 0) > 0;
}
