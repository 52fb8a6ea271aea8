-- Product groups that cover the US market (a product offered in area 1) but sold
-- nothing there: the groups of area 1 minus those with US sales.
SELECT DISTINCT p.product_group
FROM {tables}.products p
WHERE p.area = 1
  AND p.product_group NOT IN (
      SELECT sold.product_group
      FROM {tables}.orders o
      JOIN {tables}.products sold ON sold.product_id = o.product_id
      WHERE o.sell_in_area = 1
      GROUP BY sold.product_group
      HAVING sum(o.sold_unit) > 0
  )
ORDER BY p.product_group
