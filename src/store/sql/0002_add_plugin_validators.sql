-- A plugin's inputs and outputs schemas compiled to standalone validation code at
-- registration ({"inputs": code, "outputs": code}), so that runs need not load ajv.
ALTER TABLE plugin ADD COLUMN validators jsonb NOT NULL DEFAULT '{}';
