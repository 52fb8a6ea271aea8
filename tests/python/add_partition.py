"""Give a topic of pipelab's embedded broker more partitions, as CreatePartitions would.

usage: add_partition.py TANSU_DB TOPIC PARTITIONS

tansu 0.6 (the embedded broker) does not implement the CreatePartitions request, so the
test that a pipeline picks up partitions added while it runs adds them where tansu keeps
its catalog: its SQLite database (`kafka/tansu.db` in the devstack directory). tansu reads
topics from there on every metadata request and serves the new partitions at once.
"""
import sqlite3
import sys


def main(db, topic, partitions):
    c = sqlite3.connect(db, timeout=30)
    (topic_id, before) = c.execute(
        "SELECT id, partitions FROM topic WHERE name = ?", (topic,)
    ).fetchone()
    c.execute("UPDATE topic SET partitions = ? WHERE id = ?", (partitions, topic_id))
    for p in range(before, partitions):
        c.execute("INSERT INTO topition (topic, partition) VALUES (?, ?)", (topic_id, p))
        (topition,) = c.execute(
            "SELECT id FROM topition WHERE topic = ? AND partition = ?", (topic_id, p)
        ).fetchone()
        c.execute("INSERT INTO watermark (topition) VALUES (?)", (topition,))
    c.commit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
