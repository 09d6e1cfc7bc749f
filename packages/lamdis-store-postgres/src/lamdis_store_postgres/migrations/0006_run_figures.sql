-- A finished run's suite-page figures on its row, written by finish_run from its items, so the
-- suite page's per-run series (items, turns, p95 turn latency) reads 50 run rows instead of
-- 50 runs' items. NULL means not kept: a run finished before this migration, one still
-- running, or one that got an item after its finish; readers compute those from the items.
ALTER TABLE test_runs
    ADD COLUMN "itemCount" integer,
    ADD COLUMN "turnCount" integer,
    ADD COLUMN "p95TurnMs" double precision;

-- Joins the "perTurnMs" arrays of many item rows into one (array_agg needs arrays of one
-- length): per-test latencies are gathered without a row per turn.
CREATE AGGREGATE lamdis_concat_ms(double precision[]) (
    SFUNC = array_cat,
    STYPE = double precision[]
);
