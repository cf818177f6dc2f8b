-- taskhost_row_label (0009) computes a row's `key_label` from the least and the greatest of
-- its values' labels. As a SQL function it is not inlined (its arguments are used more than
-- once and are not cheap), so PostgreSQL ran it as a query of its own: planned once by every
-- statement that writes to a labelled table (five in a step transition) and started for every
-- row written. A PL/pgSQL function is compiled once a connection and evaluated as a simple
-- expression. Same results (test/integration/encryption/row-labels.test.ts); measured in paired
-- rounds (600 3-echo tasks a round, old and new side by side on one cluster): 1.03x the
-- tasks/s with one instance, 1.06x with three (more, smaller statements).
CREATE OR REPLACE FUNCTION taskhost_row_label(lowest text, highest text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  AS $$
BEGIN
  RETURN CASE WHEN lowest IS NULL THEN NULL
              WHEN lowest = highest OR lowest = '' THEN lowest
              ELSE '*' END;
END
$$;
