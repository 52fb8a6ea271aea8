-- The runaway query's query_submitted event is on the topic: the server is running it.
SELECT query_id, state
FROM kafka.default.pipelab_queries
WHERE event = 'query_submitted' AND sql LIKE '%CROSS JOIN range(100000000)%'
