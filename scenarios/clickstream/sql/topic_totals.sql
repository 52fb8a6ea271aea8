-- The same events read straight from the topic (no pipeline, no lake): what a live
-- counter sees the moment an event is produced. The record that is not JSON is there,
-- flagged `_message_corrupt`.
SELECT count(*) AS records,
       count(*) FILTER (WHERE NOT _message_corrupt) AS events,
       count(DISTINCT user_id) AS users
FROM kafka.default.clicks
