-- Nested fields in the lake: a struct and a list, queried as they are.
SELECT tag, count(*) AS documents
FROM (SELECT unnest(tags) AS tag FROM lake.default.documents)
GROUP BY tag
ORDER BY tag
