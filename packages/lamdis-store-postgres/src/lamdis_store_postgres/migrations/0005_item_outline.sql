-- An item's outline in columns of its own, so the suite page reads outcome, judge score and
-- per-turn latency of 50 runs x 500 items without decompressing each item's whole document.
-- Rows stored before this migration keep NULLs here; readers fall back to the document.
ALTER TABLE test_run_items
    ADD COLUMN "testName"   text,
    ADD COLUMN repeat       integer,
    ADD COLUMN "judgeScore" double precision,
    ADD COLUMN "perTurnMs"  double precision[];
