-- One row per archived run, keyed by the run's uid. The columns are what history queries
-- filter and list by; `record` holds the whole redacted record as JSON text.
CREATE TABLE remedy_runs (
    uid              TEXT    PRIMARY KEY NOT NULL,
    namespace        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    workflow         TEXT,
    workflow_version TEXT,
    workflow_digest  TEXT,
    target           TEXT,
    phase            TEXT,
    outcome          TEXT,
    failure_reason   TEXT,
    created_ms       INTEGER,
    started_ms       INTEGER,
    finished_ms      INTEGER NOT NULL,
    archived_ms      INTEGER NOT NULL,
    record           TEXT    NOT NULL
);
CREATE INDEX remedy_runs_by_finished ON remedy_runs (finished_ms DESC);
CREATE INDEX remedy_runs_by_target ON remedy_runs (target, finished_ms DESC);
CREATE INDEX remedy_runs_by_workflow ON remedy_runs (workflow, finished_ms DESC);
CREATE INDEX remedy_runs_by_namespace ON remedy_runs (namespace, finished_ms DESC);
CREATE INDEX remedy_runs_by_outcome ON remedy_runs (outcome, finished_ms DESC);
CREATE INDEX remedy_runs_by_name ON remedy_runs (name, finished_ms DESC);
