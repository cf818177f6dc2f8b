-- The schedulers' due query (engine/scheduler.ts) ran `template -> 'template' ->> 'auto_runnable'`
-- on every TODO resolution it read: the bitmap scan that finds due rows re-checks the whole
-- condition on each row, so each claim decompressed the template snapshot (a kilobyte or
-- more) of every due resolution, over and over while a batch of tasks drains. The flag is
-- now a column, written with the resolution (engine/tasks.ts: the template's auto_runnable),
-- and the partial index holds the same rows as before.
--
-- Only TODO resolutions need it: a resolution is TODO only until its first run, and the due
-- query reads the flag only then.
ALTER TABLE resolution ADD COLUMN auto_run boolean NOT NULL DEFAULT false;
UPDATE resolution SET auto_run = true
 WHERE state = 'TODO' AND coalesce((template -> 'template' ->> 'auto_runnable')::boolean, false);
DROP INDEX resolution_todo_auto_idx;
CREATE INDEX resolution_todo_auto_idx ON resolution (created_at) WHERE state = 'TODO' AND auto_run;
