EXPLAIN
SELECT b.customer, b.host
FROM lake.default.bundle_hosts b
LEFT JOIN {ops}.monitored_hosts m ON m.customer = b.customer AND m.host = b.host
WHERE m.host IS NULL
