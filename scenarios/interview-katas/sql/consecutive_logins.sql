-- Users who logged in on at least two consecutive calendar days (one login a day at most).
-- Each login becomes its calendar day; a user qualifies when some day is followed by the
-- next one. No window function needed: a self-join on "the day after".
WITH days AS (
    SELECT DISTINCT user_id, CAST(substr(CAST(logtime AS VARCHAR), 1, 10) AS DATE) AS day
    FROM {tables}.logins
)
SELECT DISTINCT a.user_id
FROM days a
JOIN days b ON b.user_id = a.user_id AND b.day = a.day + INTERVAL '1 day'
ORDER BY a.user_id
