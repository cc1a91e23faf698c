-- `--target deployment/shop/web` finds `Deployment/shop/web`: targets are looked up by a key
-- with the kind in lower case (and an empty namespace for cluster-scoped resources),
-- filled in for the rows already archived.
ALTER TABLE remedy_runs ADD COLUMN target_key TEXT;
UPDATE remedy_runs
   SET target_key = lower(json_extract(record, '$.target.kind')) || '/'
                    || coalesce(json_extract(record, '$.target.namespace'), '') || '/'
                    || json_extract(record, '$.target.name')
 WHERE json_extract(record, '$.target.kind') IS NOT NULL;
DROP INDEX remedy_runs_by_target;
CREATE INDEX remedy_runs_by_target_key ON remedy_runs (target_key, finished_ms DESC);
