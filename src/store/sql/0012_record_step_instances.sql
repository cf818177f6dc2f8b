-- Where each step last ran, on the step's own row (`HOSTNAME/PID`, as run.ran_on): written
-- with the step when an execution starts, so the task document reads it with the steps.
-- Until now it was read from the step's latest run, and every step had to have one, an echo
-- too. An echo step executes nothing (no plugin, no process): it has no run any more (SPEC
-- section 8: a run is an execution of a plugin), and its step row says where it ran.
ALTER TABLE resolution_step ADD COLUMN ran_on text;

UPDATE resolution_step rs SET ran_on = latest.ran_on
  FROM (SELECT DISTINCT ON (resolution_id, step_name) resolution_id, step_name, ran_on FROM run
         WHERE resolution_id IS NOT NULL AND ran_on IS NOT NULL
         ORDER BY resolution_id, step_name, attempt DESC) AS latest
 WHERE rs.resolution_id = latest.resolution_id AND rs.name = latest.step_name;
