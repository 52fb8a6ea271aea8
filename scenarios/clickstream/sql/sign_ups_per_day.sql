SELECT dt AS day, count(DISTINCT CASE WHEN event_type = 'sign_up' THEN user_id END) AS sign_ups
FROM clicks
GROUP BY dt
ORDER BY dt
