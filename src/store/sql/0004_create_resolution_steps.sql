-- The template engine's store (issue "template engine").
--
-- One row per step of a resolution, so that a transition writes the step it changes and
-- nothing else (µTask rewrote its whole step tree on every update: big rows, VACUUM
-- pressure, and, once values are encrypted, re-encryption of everything). The template a
-- resolution runs is snapshotted with it, so editing templates/ never changes a running
-- task. A task's event log takes its `seq` from the task row, in the transaction that
-- writes the events: concurrent steps and several instances share one gap-free order.
ALTER TABLE resolution DROP COLUMN steps;
ALTER TABLE resolution DROP COLUMN base_configurations;
ALTER TABLE resolution ADD COLUMN template jsonb NOT NULL DEFAULT '{}';
ALTER TABLE resolution ADD CONSTRAINT resolution_state_check CHECK (state IN (
  'TODO', 'RUNNING', 'DONE', 'CANCELLED', 'PAUSED', 'BLOCKED_TOCHECK', 'BLOCKED_BADREQUEST',
  'BLOCKED_DEADLOCK', 'BLOCKED_MAXRETRIES', 'BLOCKED_FATAL', 'WAITING', 'CRASHED', 'RETRY',
  'ERROR', 'TO_AUTORUN', 'TO_AUTORUN_DELAYED', 'AUTORUNNING'));
CREATE INDEX resolution_instance_idx ON resolution (instance_id) WHERE state = 'RUNNING';

ALTER TABLE task ADD COLUMN template_name text NOT NULL DEFAULT '';
ALTER TABLE task ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE task ADD COLUMN parent_task_id uuid REFERENCES task (id) ON DELETE SET NULL;
ALTER TABLE task ADD CONSTRAINT task_state_check CHECK (state IN (
  'TODO', 'BLOCKED', 'RUNNING', 'WONTFIX', 'DONE', 'CANCELLED', 'WAITING', 'DELAYED'));
CREATE INDEX task_parent_idx ON task (parent_task_id) WHERE parent_task_id IS NOT NULL;

CREATE TABLE resolution_step (
  resolution_id uuid NOT NULL REFERENCES resolution (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- The foreach step that expanded this one (its children are `PARENT-INDEX`), and its index.
  parent text,
  child_index integer,
  -- Builtin states, or a custom state (an upper-case word).
  state text NOT NULL CHECK (state ~ '^[A-Z][A-Z0-9_]*$'),
  try_count integer NOT NULL DEFAULT 0,
  -- How many executions started (the attempt number of the step's runs): unlike try_count,
  -- it counts an execution that a crash cut short.
  executions integer NOT NULL DEFAULT 0,
  last_run timestamptz,
  output jsonb,
  metadata jsonb,
  children jsonb,
  error text,
  -- A foreach child's item (`{{.iterator}}`); `has_item` tells a null item from none.
  item jsonb,
  has_item boolean NOT NULL DEFAULT false,
  -- Dependencies added at run time: an expanded step's children, a sequence child's elder.
  extra_dependencies text[] NOT NULL DEFAULT '{}',
  -- An expanded foreach step's children, in order.
  children_steps text[],
  PRIMARY KEY (resolution_id, name)
);

-- Every execution of a step is a run of (resolution, step, attempt): the same attempt can
-- never run twice, whichever instance tries.
ALTER TABLE run ADD COLUMN resolution_id uuid REFERENCES resolution (id) ON DELETE CASCADE;
CREATE UNIQUE INDEX run_step_attempt_idx ON run (resolution_id, step_name, attempt)
  WHERE resolution_id IS NOT NULL;

-- µTask's callbacks: a step creates one (an id and a secret token), another waits in
-- WAITING until an HTTP call resolves it (POST /unsecured/callback/:id?t=TOKEN, with a body
-- the callback's schema accepts); resolving it sets the resolution's next_retry, in the same
-- transaction, so no restart can lose the wake-up.
CREATE TABLE callback (
  id uuid PRIMARY KEY,
  token_hash text NOT NULL,
  resolution_id uuid NOT NULL REFERENCES resolution (id) ON DELETE CASCADE,
  step_name text NOT NULL,
  schema jsonb,
  body jsonb,
  called_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_resolution_idx ON callback (resolution_id);
