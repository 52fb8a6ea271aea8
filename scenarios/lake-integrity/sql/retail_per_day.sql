SELECT CAST(order_date AS VARCHAR) AS order_date, count(*) AS orders, sum(amount) AS revenue,
       count(coupon) AS with_coupon
FROM retail_orders
GROUP BY order_date
ORDER BY order_date
