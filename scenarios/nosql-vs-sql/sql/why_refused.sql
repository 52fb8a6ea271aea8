-- The strict load keeps each refused document with its line, the field and why
-- (`detail` and the document itself are in the table too).
SELECT line, field, reason
FROM {ops}.products_refused
ORDER BY line
