-- The warehouse's load table: one row per object, upserted by the pipeline's second
-- sink in the same transaction as the object's name in pipelab_offsets.
SELECT _object, region, orders, revenue_cents
FROM {ops}.object_summary
ORDER BY _object
