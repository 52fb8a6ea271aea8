"""Count the rows of every Parquet file under a directory, as DuckDB's read_parquet does
with a glob (a reader that ignores the Delta log and sees whatever files are there).

usage: count_parquet.py DIR
Prints {"files": N, "rows": M} as JSON.
"""
import json
import sys

import duckdb

pattern = sys.argv[1].rstrip("/") + "/**/*.parquet"
quoted = pattern.replace("'", "''")
files, rows = duckdb.sql(
    f"SELECT count(DISTINCT filename), count(*) FROM read_parquet('{quoted}', filename = true)"
).fetchone()
print(json.dumps({"files": files, "rows": rows}))
