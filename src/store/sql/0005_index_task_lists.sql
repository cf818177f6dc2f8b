-- Task lists (GET /task, issue 13): one page is ORDER BY created_at DESC, id DESC LIMIT n
-- (store/queries/task-list.ts), paged by `(created_at, id) < (last's)`. These indexes
-- have the same order, so the first page with 100,000 tasks reads one page of index,
-- filtered by nothing, by state, by template or by requester alike, and sorts nothing.
CREATE INDEX task_created_idx ON task (created_at DESC, id DESC);
CREATE INDEX task_template_created_idx ON task (template_name, created_at DESC, id DESC);
CREATE INDEX task_requester_created_idx ON task (requester_username, created_at DESC, id DESC);
-- Replaces the index on state alone: `state = $1` still finds it by its first column.
DROP INDEX task_state_idx;
CREATE INDEX task_state_created_idx ON task (state, created_at DESC, id DESC);
-- `?tag=key=value` is `tags @> '{"key": "value"}'`, which jsonb_path_ops answers.
CREATE INDEX task_tags_idx ON task USING gin (tags jsonb_path_ops);

-- No query reads last_activity through an index (lists order by creation), and this one
-- made every event of a task cost an index write: each event updates the task row's
-- last_seq and last_activity, and an update that changes an indexed column cannot be a HOT
-- update, so it also writes a new entry into every index of the table (the ones above
-- included). Without it, those updates change no indexed column and can stay HOT.
DROP INDEX task_last_activity_idx;
