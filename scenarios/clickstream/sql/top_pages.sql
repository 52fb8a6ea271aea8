SELECT page, count(*) AS views
FROM clicks
WHERE event_type = 'page_view'
GROUP BY page
ORDER BY views DESC, page
LIMIT 3
