-- The marketing follow-up list: per customer, how many hosts it runs unmonitored, and how
-- many it already monitors (its edition from the inventory).
WITH unmonitored AS (
    SELECT DISTINCT b.customer, b.host
    FROM lake.default.bundle_hosts b
    LEFT JOIN {ops}.monitored_hosts m ON m.customer = b.customer AND m.host = b.host
    WHERE m.host IS NULL
),
monitored AS (
    SELECT customer, count(*) AS monitored_hosts, max(edition) AS edition
    FROM {ops}.monitored_hosts
    GROUP BY customer
)
SELECT u.customer, count(*) AS unmonitored_hosts, m.monitored_hosts, m.edition
FROM unmonitored u JOIN monitored m ON m.customer = u.customer
GROUP BY u.customer, m.monitored_hosts, m.edition
ORDER BY unmonitored_hosts DESC, u.customer
