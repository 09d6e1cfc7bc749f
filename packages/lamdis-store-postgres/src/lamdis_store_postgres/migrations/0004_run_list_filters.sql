-- The runs list filters by environment, branch and commit as well (the web UI), and pages by
-- a ("createdAt", seq) position rather than an offset. Each index serves one filter in the
-- list's newest-first order, so a page is read from the index however deep it is.
CREATE INDEX test_runs_env_created_idx ON test_runs ("envId", "createdAt" DESC, seq DESC);
CREATE INDEX test_runs_branch_created_idx
    ON test_runs (("gitContext" ->> 'branch'), "createdAt" DESC, seq DESC);
-- A commit filter is a prefix (a short SHA): a byte-ordered range over sha, or commit when a
-- run has no sha. Few runs share a commit, so the planner sorts the handful it finds.
CREATE INDEX test_runs_commit_idx
    ON test_runs ((COALESCE("gitContext" ->> 'sha', "gitContext" ->> 'commit') COLLATE "C"));
