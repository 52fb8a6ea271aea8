SELECT 'lake: documents' AS landed, count(*) AS documents FROM lake.default.documents
UNION ALL
SELECT 'lake: dead letters', count(*) FROM lake.default.documents_dead_letters
UNION ALL
SELECT 'database: products', count(*) FROM {ops}.products
UNION ALL
SELECT 'database: refused', count(*) FROM {ops}.products_refused
