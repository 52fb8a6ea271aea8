-- `rating` appeared on day 2. The lake has every document, most without a rating; the
-- database has a rating column, but refused most of the documents that carry one.
SELECT 'lake' AS side, count(*) AS documents, count(rating) AS rated,
       round(avg(rating), 2) AS avg_rating
FROM lake.default.documents
UNION ALL
SELECT 'database', count(*), count(rating), round(avg(rating), 2)
FROM {ops}.products
