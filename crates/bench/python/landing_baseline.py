"""The Python baseline of `pipelab bench landing`: the job a Lambda function does for
a landing prefix (list the objects, read each one's JSON lines, add the event day, one
Delta commit per batch of objects, partitioned by day) with pyarrow + deltalake, on the
same objects, timed the same way (wall time of the whole job, listing included).

job on stdin: {"landing": DIR, "table": DIR, "batch_rows": N}
prints one JSON object: objects, rows, wall_s
"""

import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from deltalake import DeltaTable, write_deltalake


def objects(root):
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            yield os.path.join(folder, name)


def commit(table_dir, tables):
    table = pa.concat_tables(tables, promote_options="default")
    day = pc.utf8_slice_codeunits(table.column("ts"), 0, 10)
    write_deltalake(table_dir, table.append_column("dt", day), mode="append", partition_by=["dt"])


def main():
    job = json.load(sys.stdin)
    wall0 = time.perf_counter()
    pending, rows, count = [], 0, 0
    for path in objects(job["landing"]):
        pending.append(pj.read_json(path))
        rows += pending[-1].num_rows
        count += 1
        if rows >= job["batch_rows"]:
            commit(job["table"], pending)
            pending, rows = [], 0
    if pending:
        commit(job["table"], pending)
    wall = time.perf_counter() - wall0
    stored = DeltaTable(job["table"]).to_pyarrow_dataset().count_rows()
    print(json.dumps({"objects": count, "rows": stored, "wall_s": wall}))


if __name__ == "__main__":
    main()
    # pyarrow's threads can outlive the interpreter's teardown (apache/arrow#34314).
    sys.stdout.flush()
    os._exit(0)
