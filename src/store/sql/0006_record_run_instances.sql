-- Where work ran (issue "server"): every run keeps the instance that ran it, as
-- `HOSTNAME/PID`, for good. `instance_id` is the live owner (cleared when the run ends, and
-- by the owner's row going when it stops); `ran_on` stays after both, so an operator reading
-- a finished run or step, or a dead instance's work, still sees where it ran.
ALTER TABLE run ADD COLUMN ran_on text;
