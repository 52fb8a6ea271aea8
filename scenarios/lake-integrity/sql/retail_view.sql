-- The retail team's view of the orders: its rows and the columns it needs, kept in the
-- lake (every later session sees it).
CREATE VIEW retail_orders AS
SELECT order_id, order_date, customer, amount, coupon FROM orders WHERE team = 'retail'
