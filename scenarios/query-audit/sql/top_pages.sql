SELECT page, count(*) AS views
FROM page_views
GROUP BY page
ORDER BY views DESC, page
LIMIT 3
