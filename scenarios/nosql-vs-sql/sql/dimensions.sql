SELECT doc_id, dimensions['w_cm'] AS width_cm, dimensions['h_cm'] AS height_cm
FROM lake.default.documents
WHERE dimensions IS NOT NULL
ORDER BY doc_id
