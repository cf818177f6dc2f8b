-- The schedulers' due query (engine/scheduler.ts) runs on every pass of every instance. Its
-- first arm, a TODO resolution of an auto_runnable template, reads the flag out of the
-- resolution's template snapshot: without an index for it, every TODO resolution (a task
-- waiting for its resolver) was read and its snapshot decoded on each pass, 0.6 s a pass
-- with 100,000 of them. This partial index holds exactly that arm's rows, and the other
-- arms have theirs (resolution_state_retry_idx, resolution_instance_idx), so the planner
-- reads only due rows.
CREATE INDEX resolution_todo_auto_idx ON resolution (created_at)
  WHERE state = 'TODO' AND coalesce((template -> 'template' ->> 'auto_runnable')::boolean, false);
