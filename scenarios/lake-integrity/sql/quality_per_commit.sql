-- The metrics each load's commit recorded: which version, which rule, on how many rows.
SELECT version, rule, rows, value, passed
FROM orders_quality
ORDER BY version, rule
