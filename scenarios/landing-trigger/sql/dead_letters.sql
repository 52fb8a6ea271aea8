-- The line that is not JSON: a dead letter naming its object (key@ETag) and line.
SELECT split_part(topic, '@', 1) AS object, "offset" AS line, stage
FROM orders_dead_letters
