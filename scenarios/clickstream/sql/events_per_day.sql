SELECT dt AS day, count(*) AS events, count(DISTINCT user_id) AS visitors
FROM clicks
GROUP BY dt
ORDER BY dt
