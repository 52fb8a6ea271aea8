"""DuckDB's side of a federation benchmark: queries across PostgreSQL, MySQL/MariaDB and Delta.

Usage: python federation_duckdb.py < SPEC.json, where SPEC.json is
  {"postgres": "<libpq conninfo or postgres:// URL>", "mysql": "<mysql:// URL or key=value>",
   "delta_tables": {"name": "/path/to/delta/table"}, "runs": 5,
   "queries": [{"name": "...", "sql": "..."}],
   "settings": {"mysql_experimental_filter_pushdown": false},     # optional, applied with SET
   "stream": {"sql": "..."}}                                      # optional
DuckDB 1.4.4's postgres, mysql and delta extensions are loaded offline, by path, from the
duckdb-ext-* packages. PostgreSQL is attached read-only as `pg`, MySQL as `my`; each Delta
table is a view in the main schema. Each query runs once untimed, then `runs` timed runs.
Prints one JSON object: {"duckdb_version", "queries": {name: {"median_ms", "runs_ms",
"rows", "row_count"} or {"error"}}, "stream": {"rows", "secs"}}. The stream query's result
is read into Python tuples in fetchmany chunks, as a client program would.
"""
import datetime
import decimal
import glob
import json
import math
import os
import statistics
import sys
import time

import duckdb


def load_extension(con, name):
    # duckdb-ext-* wheels share the namespace package duckdb_ext and put each file at
    # duckdb_ext/extensions/v<duckdb version>/<platform>/<name>.duckdb_extension. They are
    # DuckDB's signed builds, so LOAD needs no allow_unsigned_extensions.
    import duckdb_ext

    root = list(duckdb_ext.__path__)[0]
    pattern = os.path.join(root, "extensions", f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension")
    [extension] = glob.glob(pattern)
    con.execute(f"LOAD '{extension}'")


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def json_safe(value):
    # Values as exact text where JSON has no type for them.
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # UUID and the like


def run_query(con, sql, runs):
    # Untimed run, by the timed runs' path (the first Arrow fetch also imports pyarrow):
    # warms the connections and catalogs, and gives the answer.
    table = con.execute(sql).fetch_arrow_table()
    rows = [json_safe(list(row)) for row in zip(*(c.to_pylist() for c in table.columns))]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        # Arrow results, as pipelab's are (no Python object per value in the timing).
        con.execute(sql).fetch_arrow_table()
        times.append((time.perf_counter() - started) * 1000.0)
    return {"median_ms": statistics.median(times) if times else None, "runs_ms": times,
            "rows": rows, "row_count": len(rows)}


def main():
    spec = json.load(sys.stdin)
    # Never fetch an extension from the network: only what is loaded below.
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    for name in ("postgres_scanner", "mysql_scanner", "delta"):
        load_extension(con, name)
    con.execute("SET TimeZone = 'UTC'")  # timestamptz values print with +00:00
    for key, value in spec.get("settings", {}).items():
        con.execute(f"SET {key} = ?", [value])
    con.execute(f"ATTACH {quote(spec['postgres'])} AS pg (TYPE postgres, READ_ONLY)")
    con.execute(f"ATTACH {quote(spec['mysql'])} AS my (TYPE mysql, READ_ONLY)")
    for name, path in spec.get("delta_tables", {}).items():
        ident = '"' + name.replace('"', '""') + '"'
        con.execute(f"CREATE OR REPLACE VIEW main.{ident} AS SELECT * FROM delta_scan({quote(path)})")

    out = {}
    for query in spec["queries"]:
        try:
            out[query["name"]] = run_query(con, query["sql"], spec.get("runs", 5))
        except Exception as e:  # duckdb.Error, or a server gone away mid-run
            out[query["name"]] = {"error": f"{type(e).__name__}: {e}"}
    result = {"duckdb_version": duckdb.__version__, "queries": out}
    if "stream" in spec:
        result["stream"] = stream(con, spec["stream"]["sql"])
    print(json.dumps(result))


def stream(con, sql):
    started = time.perf_counter()
    cursor = con.execute(sql)
    rows = 0
    while True:
        chunk = cursor.fetchmany(10_000)
        if not chunk:
            break
        rows += len(chunk)
    return {"rows": rows, "secs": time.perf_counter() - started}


if __name__ == "__main__":
    main()
    # pyarrow's scan threads can outlive the interpreter's teardown and abort it (exit
    # 134, "terminate called without an active exception": apache/arrow#34314) after
    # the answer is printed: leave without the teardown.
    sys.stdout.flush()
    os._exit(0)
