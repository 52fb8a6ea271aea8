-- Revenue and orders per day: the question finance asks every morning.
SELECT CAST(order_date AS VARCHAR) AS order_date, count(*) AS orders, sum(amount) AS revenue
FROM orders
GROUP BY order_date
ORDER BY order_date
