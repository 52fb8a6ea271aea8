"""Read a pipelab lake table as other tools do and print per-day counts as JSON.

usage: read_lake.py TABLE_URI     (a local directory or s3://bucket/table)

- deltalake (delta-rs Python) reads the Delta log and returns pyarrow data;
- DuckDB reads the table's own Parquet files (never a glob of the directory, which
  would also see files of attempts that never committed) with hive_partitioning;
- on S3, pyarrow's S3 filesystem reads those same files through the endpoint;
- DuckDB's delta extension (delta_scan, on delta-kernel) reads the Delta log itself,
  loaded offline by path from the duckdb-ext-delta package (httpfs likewise for S3);
- polars reads the table with read_delta.
S3 settings come from the AWS_* variables that `pipelab devstack` prints.
"""
import glob
import json
import os
import sys
from collections import Counter
from urllib.parse import urlparse

import duckdb
import polars as pl
from deltalake import DeltaTable


def storage_options():
    keys = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"]
    return {k: os.environ[k] for k in keys if k in os.environ}


def main(uri):
    s3 = uri.startswith("s3://")
    table = DeltaTable(uri, storage_options=storage_options() if s3 else None)
    data = table.to_pyarrow_table(columns=["dt"])
    report = {"deltalake": dict(Counter(str(d) for d in data.column("dt").to_pylist()))}
    files = table.file_uris()
    if s3:
        import pyarrow.parquet as pq
        from pyarrow import fs

        endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
        s3fs = fs.S3FileSystem(
            endpoint_override=endpoint.netloc,
            scheme=endpoint.scheme,
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )
        counts = Counter()
        for f in files:
            path = f[len("s3://"):]
            day = [p.split("=", 1)[1] for p in path.split("/") if p.startswith("dt=")][0]
            counts[day] += pq.ParquetFile(path, filesystem=s3fs).metadata.num_rows
        report["pyarrow_s3"] = dict(counts)
    else:
        rows = duckdb.sql(
            "SELECT CAST(dt AS VARCHAR), count(*) FROM read_parquet($files, hive_partitioning = true) GROUP BY 1",
            params={"files": files},
        ).fetchall()
        report["duckdb"] = {d: n for d, n in rows}
    report["duckdb_delta"] = duckdb_delta_counts(uri)
    options = storage_options() if s3 else None
    by_day = pl.read_delta(uri, storage_options=options, columns=["dt"]).group_by("dt").len()
    report["polars"] = {str(d): n for d, n in by_day.rows()}
    print(json.dumps(report))


def load_extension(con, name):
    """Load a DuckDB extension from its duckdb-ext-NAME package, by path: no download."""
    import duckdb_ext

    root = list(duckdb_ext.__path__)[0]
    pattern = os.path.join(root, "extensions", f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension")
    [extension] = glob.glob(pattern)
    con.execute(f"LOAD '{extension}'")


def duckdb_delta_counts(uri):
    con = duckdb.connect()
    load_extension(con, "delta")
    if uri.startswith("s3://"):
        load_extension(con, "httpfs")
        endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID $key, SECRET $secret, REGION $region, "
            "ENDPOINT $endpoint, URL_STYLE 'path', USE_SSL $ssl)",
            {
                "key": os.environ["AWS_ACCESS_KEY_ID"],
                "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
                "region": os.environ.get("AWS_REGION", "us-east-1"),
                "endpoint": endpoint.netloc,
                "ssl": endpoint.scheme == "https",
            },
        )
    rows = con.execute("SELECT CAST(dt AS VARCHAR), count(*) FROM delta_scan($uri) GROUP BY 1", {"uri": uri}).fetchall()
    return {d: n for d, n in rows}


if __name__ == "__main__":
    main(sys.argv[1])
    # pyarrow's scan threads can outlive the interpreter's teardown and abort it (exit
    # 134, "terminate called without an active exception": apache/arrow#34314) after
    # the answer is printed: leave without the teardown.
    sys.stdout.flush()
    os._exit(0)
