-- Encryption at rest (SPEC section 8, "Data at rest"; issue "security").
--
-- The values SPEC lists are encrypted by the store's codec (store/crypto/codec.ts) before
-- they reach PostgreSQL: each is one string `th1:<key label>:<base64>`, stored as the
-- column's text, or as a JSON string in a jsonb column, so no column changes type. What
-- stays in clear is what lists filter and sort on (states, template names, tags, dates,
-- people) and the resolution's template snapshot.
--
-- Each table with such values gets `key_labels`, the labels its row's values are under,
-- computed by PostgreSQL on every write (a generated column: no write path can forget it),
-- '' for a value still in clear. A GIN index on it finds the rows a key rotation still has
-- to re-encrypt (`key_labels && ARRAY[old labels]`), the rows `key remove` would strand, and
-- the rows still in clear after this migration: the code converts them at start
-- (store/crypto/encryption.ts), in batches that commit one by one, so a conversion or a
-- rotation cut short resumes where it stopped.

CREATE FUNCTION taskhost_key_label(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN value IS NULL THEN NULL
                    WHEN starts_with(value, 'th1:') THEN split_part(value, ':', 2)
                    ELSE '' END $$;

ALTER TABLE task ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(title), taskhost_key_label(input #>> '{}'), taskhost_key_label(result #>> '{}')
], NULL)) STORED;

ALTER TABLE resolution ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(resolver_input #>> '{}')
], NULL)) STORED;

ALTER TABLE resolution_step ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(output #>> '{}'), taskhost_key_label(metadata #>> '{}'),
  taskhost_key_label(children #>> '{}'), taskhost_key_label(item #>> '{}'), taskhost_key_label(error)
], NULL)) STORED;

ALTER TABLE run ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(data #>> '{}'), taskhost_key_label(result #>> '{}'), taskhost_key_label(error)
], NULL)) STORED;

ALTER TABLE event ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(line), taskhost_key_label(data #>> '{}')
], NULL)) STORED;

ALTER TABLE comment ADD COLUMN key_labels text[] GENERATED ALWAYS AS (array_remove(ARRAY[
  taskhost_key_label(content)
], NULL)) STORED;

CREATE INDEX task_key_labels_idx ON task USING gin (key_labels);
CREATE INDEX resolution_key_labels_idx ON resolution USING gin (key_labels);
CREATE INDEX resolution_step_key_labels_idx ON resolution_step USING gin (key_labels);
CREATE INDEX run_key_labels_idx ON run USING gin (key_labels);
CREATE INDEX event_key_labels_idx ON event USING gin (key_labels);
CREATE INDEX comment_key_labels_idx ON comment USING gin (key_labels);

-- Every label a taskhost has encrypted with (its ring's newest, recorded at start): an
-- instance whose ring lacks one refuses to start, naming it; `key remove` deletes the row
-- once no value uses the key.
CREATE TABLE encryption_key (
  label text PRIMARY KEY,
  first_used_at timestamptz NOT NULL DEFAULT now()
);
