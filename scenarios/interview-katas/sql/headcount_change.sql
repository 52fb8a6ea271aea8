-- Headcount at the end of each year from an SCD type 2 history (one row per employee and
-- period; end_date exclusive, empty while current), and its change from the year before.
-- Dates are ISO text compared as text, so the SQL is the same on every engine.
WITH years AS (
    SELECT DISTINCT CAST(substr(CAST(start_date AS VARCHAR), 1, 4) AS INT) AS year
    FROM {tables}.employee_history
),
headcount AS (
    SELECT y.year, count(DISTINCT h.employee_id) AS headcount
    FROM years y
    LEFT JOIN {tables}.employee_history h
      ON CAST(h.start_date AS VARCHAR) <= concat(CAST(y.year AS VARCHAR), '-12-31')
     AND (h.end_date IS NULL
          OR CAST(h.end_date AS VARCHAR) > concat(CAST(y.year AS VARCHAR), '-12-31'))
    GROUP BY y.year
)
SELECT year, headcount, headcount - lag(headcount) OVER (ORDER BY year) AS change
FROM headcount
ORDER BY year
