-- A cross join written by mistake: billions of rows, streamed
-- to a client that reads none of them, until the server dies.
SELECT v.user_id, v.page, n.value
FROM page_views v CROSS JOIN range(100000000) n
