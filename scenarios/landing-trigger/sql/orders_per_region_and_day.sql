-- Orders and revenue per region and day, from the lake table the landing pipeline
-- wrote (expected: counted from data/*.jsonl, the line cut short left out).
SELECT region, day, count(*) AS orders, round(sum(amount), 2) AS revenue
FROM orders
GROUP BY region, day
ORDER BY region, day
