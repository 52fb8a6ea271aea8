"""The Python baseline of `pipelab bench ingest`: the same path as pipelab's own
(decode JSON, add the event day, one Delta commit per micro-batch, partitioned by day)
with json + pyarrow + deltalake, on the same records, timed the same way (process CPU
time and wall time of the loop only; loading the records is not timed).

usage: ingest_baseline.py RECORDS.jsonl TABLE_DIR BATCH_RECORDS
prints one JSON object: records, rows, wall_s, cpu_s
"""

import json
import os
import resource
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    path, table_dir, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        lines = f.read().splitlines()

    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    for start in range(0, len(lines), batch):
        rows = [json.loads(line) for line in lines[start : start + batch]]
        table = pa.Table.from_pylist(rows)
        day = pc.utf8_slice_codeunits(table.column("ts"), 0, 10)
        table = table.append_column("dt", day)
        write_deltalake(table_dir, table, mode="append", partition_by=["dt"])
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0

    stored = DeltaTable(table_dir).to_pyarrow_dataset().count_rows()
    print(json.dumps({"records": len(lines), "rows": stored, "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
    # pyarrow's scan threads can outlive the interpreter's teardown and abort it (exit
    # 134, "terminate called without an active exception": apache/arrow#34314) after
    # the answer is printed: leave without the teardown.
    sys.stdout.flush()
    os._exit(0)
