"""Describe the layout of the Parquet files under a directory, as DuckDB reads it.

usage: parquet_layout.py DIR SORT_COLUMN
Prints JSON: {"files": N, "compression": [codecs], "max_row_group_rows": R,
"row_groups": G, "columns_with_stats": [...], "columns_with_bloom_filter": [...],
"sorted_files": S} where S counts the files whose SORT_COLUMN is ascending in file order.
"""
import json
import sys

import duckdb

root, sort_column = sys.argv[1].rstrip("/"), sys.argv[2]
pattern = (root + "/**/*.parquet").replace("'", "''")
con = duckdb.connect()
meta = con.sql(f"SELECT * FROM parquet_metadata('{pattern}')")
rows = meta.fetchall()
names = [d[0] for d in meta.description]
records = [dict(zip(names, r)) for r in rows]
files = sorted({r["file_name"] for r in records})

sorted_files = 0
for f in files:
    values = [v[0] for v in con.sql(
        f"SELECT {sort_column} FROM read_parquet('{f.replace(chr(39), chr(39) * 2)}')"
    ).fetchall()]
    sorted_files += values == sorted(values)

print(json.dumps({
    "files": len(files),
    "compression": sorted({r["compression"] for r in records}),
    "max_row_group_rows": max(r["row_group_num_rows"] for r in records),
    "row_groups": len({(r["file_name"], r["row_group_id"]) for r in records}),
    "columns_with_stats": sorted({r["path_in_schema"] for r in records
                                  if r["stats_min_value"] is not None}),
    "columns_with_bloom_filter": sorted({r["path_in_schema"] for r in records
                                         if r.get("bloom_filter_offset") is not None}),
    "sorted_files": sorted_files,
}))
