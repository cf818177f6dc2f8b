-- Supervision of plugin runs across crashes (issue "plugin host under faults").
--
-- An instance is one taskhost process that owns runs: where it runs (hostname), which
-- process it is (pid, and its start time `BOOT:TICKS` so a reused pid is never taken for
-- it), and a heartbeat for the scale-out collectors. Its id is chosen by the process (a
-- uuid), so registering costs no round trip of its own. A run records its owner and the
-- process group of its plugin (pgid, and the leader's start time), so that whoever finds
-- the owner dead can kill what it left running and mark the run failed.
ALTER TABLE run DROP COLUMN instance_id;
ALTER TABLE resolution DROP COLUMN instance_id;
DROP TABLE instance;

CREATE TABLE instance (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('cli', 'server')),
  hostname text NOT NULL,
  pid integer NOT NULL,
  process_start text,
  version text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_hostname_idx ON instance (hostname);

ALTER TABLE run ADD COLUMN instance_id uuid REFERENCES instance (id) ON DELETE SET NULL;
ALTER TABLE run ADD COLUMN pgid integer;
ALTER TABLE run ADD COLUMN pgid_start text;
CREATE INDEX run_live_idx ON run (instance_id) WHERE state IN ('TODO', 'RUNNING');
ALTER TABLE resolution ADD COLUMN instance_id uuid REFERENCES instance (id) ON DELETE SET NULL;

-- Validators are compiled from the stored schemas by each process (schema/json-schema.ts),
-- never loaded as code from the database.
ALTER TABLE plugin DROP COLUMN validators;

-- Plugin names: Unicode letters and digits with ".", "_" and "-" (checked in full by
-- plugins/registry.ts); the database refuses at least "/", whitespace and control characters.
ALTER TABLE plugin DROP CONSTRAINT plugin_name_check;
ALTER TABLE plugin ADD CONSTRAINT plugin_name_check
  CHECK (name <> '' AND name !~ '[/[:space:][:cntrl:]]' AND length(name) <= 128);
