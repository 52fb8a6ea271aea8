-- Which queries they were, by whom, for a post-mortem.
SELECT s."user", s.source, s.sql
FROM kafka.default.pipelab_queries s
LEFT JOIN kafka.default.pipelab_queries f
  ON f.query_id = s.query_id AND f.event = 'query_finished'
WHERE s.event = 'query_submitted' AND f.query_id IS NULL
