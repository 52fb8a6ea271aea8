-- The topic itself is a table: a live counter reads it directly, before the pipeline's
-- next commit, and sees the record that is not JSON flagged `_message_corrupt` rather
-- than dropped. A filter on `_partition_offset` is pushed down to Kafka: this reads the
-- first 1,000 records of each partition (all of them in the scenario's own data).
SELECT count(*) AS records,
       count(*) FILTER (WHERE NOT _message_corrupt) AS events,
       count(DISTINCT user_id) AS users
FROM kafka.default.clicks
WHERE _partition_offset < 1000
