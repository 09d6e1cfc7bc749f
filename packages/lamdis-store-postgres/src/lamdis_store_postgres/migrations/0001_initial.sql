-- lamdis-store-postgres 0001: the hosted mode's tables, in the layout of lamdis-runs (Prisma),
-- so its documented SQL ("Reading results from the database") works verbatim.
-- Column names are camelCase and quoted, as in the original. Catalog ids use the "C"
-- collation so ordering by id is byte order on every cluster, whatever its default locale.

-- Catalog: one table per kind. The document is kept whole in `doc`; the catalog's own fields
-- (id, orgId, createdAt, updatedAt) are columns. For organizations "orgId" equals id.
CREATE TABLE organizations (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id),
    CHECK ("orgId" = id)
);

CREATE TABLE test_suites (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX test_suites_id_idx ON test_suites (id);

CREATE TABLE tests (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX tests_id_idx ON tests (id);

CREATE TABLE environments (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX environments_id_idx ON environments (id);

CREATE TABLE personas (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX personas_id_idx ON personas (id);

CREATE TABLE requests (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX requests_id_idx ON requests (id);

-- Runs. `seq` breaks ties between runs created in the same microsecond, so "newest first"
-- and "oldest queued first" are total orders.
CREATE TABLE test_runs (
    id               text PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    "orgId"          text,
    "suiteId"        text,
    "envId"          text,
    trigger          text NOT NULL DEFAULT 'manual',
    "gitContext"     jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'passed', 'failed', 'partial', 'stopped')),
    "createdAt"      timestamptz NOT NULL DEFAULT now(),
    "startedAt"      timestamptz,
    "finishedAt"     timestamptz,
    "updatedAt"      timestamptz NOT NULL DEFAULT now(),
    totals           jsonb NOT NULL DEFAULT '{"passed": 0, "failed": 0, "skipped": 0, "errors": 0}',
    judge            jsonb NOT NULL DEFAULT '{}',
    usage            jsonb NOT NULL DEFAULT '{}',
    progress         jsonb NOT NULL DEFAULT '{}',
    error            text,
    "stopRequested"  boolean NOT NULL DEFAULT false,
    "webhookUrl"     text,
    webhook          jsonb,
    request          jsonb NOT NULL DEFAULT '{}',
    attempts         integer NOT NULL DEFAULT 0,
    "leaseOwner"     text,
    "leaseExpiresAt" timestamptz,
    -- set by each claim; lets a claim retried after a lost connection find what it took
    "claimToken"     text
);
-- The seed's "recent 5 runs": ORDER BY "finishedAt" DESC (NULLS FIRST, PostgreSQL's default).
CREATE INDEX test_runs_finished_idx ON test_runs ("finishedAt" DESC);
-- list_runs: newest first, overall and by org, suite and status.
CREATE INDEX test_runs_created_idx ON test_runs ("createdAt" DESC, seq DESC);
CREATE INDEX test_runs_org_created_idx ON test_runs ("orgId", "createdAt" DESC, seq DESC);
CREATE INDEX test_runs_suite_created_idx ON test_runs ("suiteId", "createdAt" DESC, seq DESC);
CREATE INDEX test_runs_status_created_idx ON test_runs (status, "createdAt" DESC, seq DESC);
-- The queue (claim_next) and lease recovery only ever look at a few rows.
CREATE INDEX test_runs_queue_idx ON test_runs ("createdAt", seq) WHERE status = 'queued';
CREATE INDEX test_runs_lease_idx ON test_runs ("leaseExpiresAt") WHERE status = 'running';

-- One row per finished item: appending is an insert, never a rewrite of the run.
CREATE TABLE test_run_items (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "runId"     text NOT NULL REFERENCES test_runs (id) ON DELETE CASCADE,
    -- makes a retried append idempotent
    "itemKey"   text NOT NULL,
    "testId"    text NOT NULL,
    assistant   text NOT NULL,
    status      text NOT NULL,
    item        jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    UNIQUE ("runId", "itemKey")
);
CREATE INDEX test_run_items_run_idx ON test_run_items ("runId", seq);

-- LLM usage per finished run, for accounting per organization.
CREATE TABLE usage (
    "runId"            text PRIMARY KEY REFERENCES test_runs (id) ON DELETE CASCADE,
    "orgId"            text,
    "suiteId"          text,
    tokens             bigint NOT NULL DEFAULT 0,
    calls              bigint NOT NULL DEFAULT 0,
    "promptTokens"     bigint NOT NULL DEFAULT 0,
    "completionTokens" bigint NOT NULL DEFAULT 0,
    "cachedCalls"      bigint NOT NULL DEFAULT 0,
    "recordedAt"       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_org_idx ON usage ("orgId", "recordedAt" DESC);
