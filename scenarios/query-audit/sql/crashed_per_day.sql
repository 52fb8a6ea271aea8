-- Submitted and never finished: the queries a crash took down, per day.
SELECT CAST(s._timestamp AS DATE) AS day, count(*) AS crashed
FROM kafka.default.pipelab_queries s
WHERE s.event = 'query_submitted'
  AND NOT EXISTS (
    SELECT 1 FROM kafka.default.pipelab_queries f
    WHERE f.event = 'query_finished' AND f.query_id = s.query_id)
GROUP BY 1
ORDER BY 1
