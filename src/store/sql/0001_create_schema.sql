-- taskhost's store, following µTask's model: templates, tasks and their resolutions,
-- comments, batches, runner instances; plus the plugin registry, and every execution of a
-- plugin as a run with an ordered event log. Inputs, outputs, errors, logs and comments
-- are encrypted at rest by a later migration (SPEC section 8); their columns are plain here.

-- A taskhost process that takes work (server or CLI), with a heartbeat for scale-out.
CREATE TABLE instance (
  id bigserial PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  version text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Registered action plugins: where the executable is and what it says of itself.
CREATE TABLE plugin (
  name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
  location text NOT NULL,
  description jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('cli', 'api', 'tasks-dir')),
  registered_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Workflow templates (µTask's task_template), the loaded YAML as a document.
CREATE TABLE task_template (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  description text NOT NULL DEFAULT '',
  document jsonb NOT NULL,
  source_file text,
  tags jsonb NOT NULL DEFAULT '{}',
  allowed_resolver_usernames text[] NOT NULL DEFAULT '{}',
  allowed_resolver_groups text[] NOT NULL DEFAULT '{}',
  allow_all_resolver_usernames boolean NOT NULL DEFAULT false,
  allow_task_start_over boolean NOT NULL DEFAULT false,
  auto_runnable boolean NOT NULL DEFAULT false,
  blocked boolean NOT NULL DEFAULT false,
  hidden boolean NOT NULL DEFAULT false,
  retry_max integer NOT NULL DEFAULT 100,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A group of tasks created together (POST /batch).
CREATE TABLE batch (
  id uuid PRIMARY KEY,
  template_id bigint REFERENCES task_template (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE task (
  id uuid PRIMARY KEY,
  template_id bigint REFERENCES task_template (id),
  batch_id uuid REFERENCES batch (id),
  title text NOT NULL,
  state text NOT NULL,
  requester_username text NOT NULL,
  requester_groups text[] NOT NULL DEFAULT '{}',
  resolver_usernames text[] NOT NULL DEFAULT '{}',
  resolver_groups text[] NOT NULL DEFAULT '{}',
  watcher_usernames text[] NOT NULL DEFAULT '{}',
  watcher_groups text[] NOT NULL DEFAULT '{}',
  tags jsonb NOT NULL DEFAULT '{}',
  input jsonb NOT NULL DEFAULT '{}',
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_activity timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_state_idx ON task (state);
CREATE INDEX task_last_activity_idx ON task (last_activity DESC);
CREATE INDEX task_batch_idx ON task (batch_id) WHERE batch_id IS NOT NULL;

-- The resolution of a task: step states live in `steps`, claimed by one instance at a time.
CREATE TABLE resolution (
  id uuid PRIMARY KEY,
  task_id uuid NOT NULL UNIQUE REFERENCES task (id) ON DELETE CASCADE,
  state text NOT NULL,
  resolver_username text,
  resolver_input jsonb NOT NULL DEFAULT '{}',
  base_configurations jsonb NOT NULL DEFAULT '{}',
  steps jsonb NOT NULL DEFAULT '{}',
  run_count integer NOT NULL DEFAULT 0,
  run_max integer NOT NULL DEFAULT 100,
  next_retry timestamptz,
  instance_id bigint REFERENCES instance (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_start timestamptz,
  last_stop timestamptz
);
CREATE INDEX resolution_state_retry_idx ON resolution (state, next_retry);

CREATE TABLE comment (
  id uuid PRIMARY KEY,
  task_id uuid NOT NULL REFERENCES task (id) ON DELETE CASCADE,
  username text NOT NULL,
  content text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comment_task_idx ON comment (task_id);

-- One execution of a plugin: from the CLI, the API, or a task's step.
CREATE TABLE run (
  id uuid PRIMARY KEY,
  plugin_name text NOT NULL,
  task_id uuid REFERENCES task (id) ON DELETE CASCADE,
  step_name text,
  attempt integer NOT NULL DEFAULT 1,
  batch_id uuid,
  origin text NOT NULL CHECK (origin IN ('cli', 'api', 'task')),
  state text NOT NULL,
  requester text,
  data jsonb,
  result jsonb,
  error text,
  exit_code integer,
  signal text,
  kill_reason text,
  dropped_lines bigint NOT NULL DEFAULT 0,
  dropped_bytes bigint NOT NULL DEFAULT 0,
  instance_id bigint REFERENCES instance (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  last_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX run_created_idx ON run (created_at DESC);
CREATE INDEX run_task_idx ON run (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX run_batch_idx ON run (batch_id) WHERE batch_id IS NOT NULL;

-- The ordered event log of a run or of a task (`stream_id` is the run's or the task's id):
-- log lines as written, state changes, the result. `seq` is strictly increasing per stream.
CREATE TABLE event (
  stream_id uuid NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL CHECK (type IN ('log', 'run', 'step', 'task')),
  step text,
  stream text,
  line text,
  state text,
  data jsonb,
  ts timestamptz NOT NULL,
  PRIMARY KEY (stream_id, seq)
);
