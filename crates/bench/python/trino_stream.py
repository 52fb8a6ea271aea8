"""Rows per second from `pipelab serve` into Python through Trino's client (DB-API).

Usage: python trino_stream.py PORT SQL
Reads the whole result in fetchmany chunks, as a client program would, and prints one
JSON object: {"rows": n, "secs": seconds from execute to the last row}.
"""
import json
import sys
import time

import trino

PORT, SQL = int(sys.argv[1]), sys.argv[2]
cursor = trino.dbapi.connect(host="127.0.0.1", port=PORT, user="bench", http_scheme="http").cursor()
started = time.perf_counter()
cursor.execute(SQL)
rows = 0
while True:
    chunk = cursor.fetchmany(10_000)
    if not chunk:
        break
    rows += len(chunk)
print(json.dumps({"rows": rows, "secs": time.perf_counter() - started}))
