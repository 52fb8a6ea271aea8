"""DuckDB's side of `pipelab bench partitions`: the lab's queries on the lab's Delta tables.

Reads a JSON job on stdin: {"tables": {layout: table_dir}, "queries": [{"name", "sql"}],
"runs": R}. Each table is read with DuckDB 1.4.4's delta extension (delta_scan, loaded
offline from the duckdb-ext-delta package by path) as the view `events`; each query runs
once untimed, then R timed runs. Prints {layout: {query: {"median_ms", "runs_ms",
"rows"}}} as JSON.
"""
import glob
import json
import os
import statistics
import sys
import time

import duckdb


def load_extension(con, name):
    import duckdb_ext

    root = list(duckdb_ext.__path__)[0]
    pattern = os.path.join(root, "extensions", f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension")
    [extension] = glob.glob(pattern)
    con.execute(f"LOAD '{extension}'")


def main():
    job = json.load(sys.stdin)
    con = duckdb.connect()
    load_extension(con, "delta")
    out = {}
    for layout, table in job["tables"].items():
        con.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM delta_scan('{table}')")
        out[layout] = {}
        for query in job["queries"]:
            # Arrow results, as pipelab's are (and no Python objects per value).
            rows = con.execute(query["sql"]).fetch_arrow_table().num_rows
            times = []
            for _ in range(job["runs"]):
                started = time.perf_counter()
                con.execute(query["sql"]).fetch_arrow_table()
                times.append((time.perf_counter() - started) * 1000.0)
            out[layout][query["name"]] = {
                "median_ms": statistics.median(times),
                "runs_ms": times,
                "rows": rows,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
