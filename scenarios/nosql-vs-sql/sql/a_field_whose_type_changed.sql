-- `stock` was a number until a document said "out of stock": the lake's column widened
-- to text, so a query that needs numbers casts, and sees the text it could not cast.
SELECT doc_id, stock, TRY_CAST(stock AS BIGINT) AS units
FROM lake.default.documents
WHERE doc_id IN (1, 10)
ORDER BY doc_id
