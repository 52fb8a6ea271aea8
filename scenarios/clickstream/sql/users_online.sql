-- "Users online": distinct users in the five minutes before the latest event (event
-- time, not the clock: the same answer whenever it runs).
WITH latest AS (SELECT max(CAST(ts AS TIMESTAMP)) AS t FROM clicks)
SELECT CAST(latest.t AS VARCHAR) AS last_event, count(DISTINCT user_id) AS users_online
FROM clicks, latest
WHERE CAST(ts AS TIMESTAMP) > latest.t - INTERVAL '5 minutes'
GROUP BY latest.t
