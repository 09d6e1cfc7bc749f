-- The seed a run's data generators drew from (given at start, or picked by the worker), so a
-- hosted run can be reproduced. NULL for runs stored before this column existed.
ALTER TABLE test_runs ADD COLUMN seed bigint;
