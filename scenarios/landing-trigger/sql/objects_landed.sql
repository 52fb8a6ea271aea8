-- Each row knows the object it came from (`_object`): two objects per region, each
-- loaded once although the pipeline ran twice over the landing prefix.
SELECT region, count(DISTINCT _object) AS objects, count(*) AS orders
FROM orders
GROUP BY region
ORDER BY region
