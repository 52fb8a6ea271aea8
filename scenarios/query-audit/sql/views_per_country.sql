-- An analyst's dashboard query.
SELECT country, count(*) AS views, count(DISTINCT user_id) AS users
FROM page_views
GROUP BY country
ORDER BY views DESC, country
