-- `--target deployment/shop/web` finds `Deployment/shop/web`: targets are looked up by a key
-- with the kind in lower case (and an empty namespace for cluster-scoped resources),
-- filled in for the rows already archived.
ALTER TABLE remedy_runs ADD COLUMN target_key TEXT;
UPDATE remedy_runs
   SET target_key = lower(record::jsonb #>> '{target,kind}') || '/'
                    || coalesce(record::jsonb #>> '{target,namespace}', '') || '/'
                    || (record::jsonb #>> '{target,name}')
 WHERE record::jsonb #>> '{target,kind}' IS NOT NULL;
DROP INDEX remedy_runs_by_target;
CREATE INDEX remedy_runs_by_target_key ON remedy_runs (target_key, finished_ms DESC);
