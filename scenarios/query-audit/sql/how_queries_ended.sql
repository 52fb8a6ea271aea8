-- Every query the server was sent, by how it ended.
SELECT coalesce(f.state, 'CRASHED') AS ended, count(*) AS queries
FROM kafka.default.pipelab_queries s
LEFT JOIN kafka.default.pipelab_queries f
  ON f.query_id = s.query_id AND f.event = 'query_finished'
WHERE s.event = 'query_submitted'
GROUP BY 1
ORDER BY 1
