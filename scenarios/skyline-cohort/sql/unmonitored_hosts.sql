-- Hosts and VMs that customers' support bundles name but the monitoring product does not
-- watch: the lake's bundle_hosts against the operational database's inventory.
SELECT b.customer, b.host, count(DISTINCT b.request_id) AS requests, min(b.opened) AS first_seen
FROM lake.default.bundle_hosts b
WHERE NOT EXISTS (
    SELECT 1 FROM {ops}.monitored_hosts m
    WHERE m.customer = b.customer AND m.host = b.host
)
GROUP BY b.customer, b.host
ORDER BY b.customer, b.host
