-- Encryption at rest (SPEC section 8, "Data at rest"; issue "security").
--
-- The values SPEC lists are encrypted by the store's codec (store/crypto/codec.ts) before
-- they reach PostgreSQL: each is one string `th1:<key label>:<base64>`, stored as the
-- column's text, or as a JSON string in a jsonb column, so no column changes type. What
-- stays in clear is what lists filter and sort on (states, template names, tags, dates,
-- people) and the resolution's template snapshot.
--
-- Each table with such values gets `key_label`, the label its row's values are under,
-- computed by PostgreSQL on every write (a generated column: no write path can forget it):
-- the label when every value of the row is under one key, '' when one is still in clear, '*'
-- when they are under different keys (a row partly rewritten after `key add`), NULL when the
-- row holds none. A b-tree index on it finds the rows a key rotation still has to re-encrypt
-- (`key_label = ANY(old labels, '', '*')`), the rows `key remove` would strand, and the rows
-- still in clear after this migration: the code converts them at start
-- (store/crypto/encryption.ts), in batches that commit one by one, so a conversion or a
-- rotation cut short resumes where it stopped. (A b-tree of one short text per row, not a GIN
-- index of label arrays: the event log is written on every line a plugin prints.)

CREATE FUNCTION taskhost_key_label(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN value IS NULL THEN NULL
                    WHEN starts_with(value, 'th1:') THEN split_part(value, ':', 2)
                    ELSE '' END $$;

-- The row's label from the least and the greatest of its values' labels ('' sorts first).
CREATE FUNCTION taskhost_row_label(lowest text, highest text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN lowest IS NULL THEN NULL
                    WHEN lowest = highest OR lowest = '' THEN lowest
                    ELSE '*' END $$;

ALTER TABLE task ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_row_label(
  least(taskhost_key_label(title), taskhost_key_label(input #>> '{}'), taskhost_key_label(result #>> '{}')),
  greatest(taskhost_key_label(title), taskhost_key_label(input #>> '{}'), taskhost_key_label(result #>> '{}')))) STORED;
ALTER TABLE resolution ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_key_label(resolver_input #>> '{}')) STORED;
ALTER TABLE resolution_step ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_row_label(
  least(taskhost_key_label(output #>> '{}'), taskhost_key_label(metadata #>> '{}'), taskhost_key_label(children #>> '{}'), taskhost_key_label(item #>> '{}'), taskhost_key_label(error)),
  greatest(taskhost_key_label(output #>> '{}'), taskhost_key_label(metadata #>> '{}'), taskhost_key_label(children #>> '{}'), taskhost_key_label(item #>> '{}'), taskhost_key_label(error)))) STORED;
ALTER TABLE run ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_row_label(
  least(taskhost_key_label(data #>> '{}'), taskhost_key_label(result #>> '{}'), taskhost_key_label(error)),
  greatest(taskhost_key_label(data #>> '{}'), taskhost_key_label(result #>> '{}'), taskhost_key_label(error)))) STORED;
ALTER TABLE event ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_row_label(
  least(taskhost_key_label(line), taskhost_key_label(data #>> '{}')),
  greatest(taskhost_key_label(line), taskhost_key_label(data #>> '{}')))) STORED;
ALTER TABLE comment ADD COLUMN key_label text GENERATED ALWAYS AS (taskhost_key_label(content)) STORED;

CREATE INDEX task_key_label_idx ON task (key_label) WHERE key_label IS NOT NULL;
CREATE INDEX resolution_key_label_idx ON resolution (key_label) WHERE key_label IS NOT NULL;
CREATE INDEX resolution_step_key_label_idx ON resolution_step (key_label) WHERE key_label IS NOT NULL;
CREATE INDEX run_key_label_idx ON run (key_label) WHERE key_label IS NOT NULL;
CREATE INDEX event_key_label_idx ON event (key_label) WHERE key_label IS NOT NULL;
CREATE INDEX comment_key_label_idx ON comment (key_label) WHERE key_label IS NOT NULL;

-- Every label a taskhost has encrypted with (its ring's newest, recorded at start): an
-- instance whose ring lacks one refuses to start, naming it; `key remove` deletes the row
-- once no value uses the key.
CREATE TABLE encryption_key (
  label text PRIMARY KEY,
  first_used_at timestamptz NOT NULL DEFAULT now()
);
