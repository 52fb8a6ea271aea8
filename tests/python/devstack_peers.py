"""Peers against `pipelab devstack`: confluent-kafka (admin, produce, consume,
commit) and pyarrow's S3 client (write, list, read), configured only from the
lines `pipelab devstack` prints (PIPELAB_BROKERS and the AWS_* exports).
Prints one line per check; exits non-zero on the first failure.
"""
import os
import sys
import time
from urllib.parse import urlparse

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

brokers = os.environ["PIPELAB_BROKERS"]
topic = sys.argv[1]


def check_kafka():
    admin = AdminClient({"bootstrap.servers": brokers})
    new = "made-by-python"
    for f in admin.create_topics([NewTopic(new, num_partitions=3, replication_factor=1)]).values():
        f.result(timeout=30)
    listed = admin.list_topics(timeout=30).topics
    assert new in listed and len(listed[new].partitions) == 3, listed
    assert topic in listed, listed
    print("admin: created", new, "with 3 partitions; topics:", sorted(listed))

    producer = Producer({"bootstrap.servers": brokers})
    for i in range(100):
        producer.produce(new, key=str(i), value=f'{{"n": {i}}}')
    assert producer.flush(30) == 0
    print("produce: 100 records")

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "py-peers", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([new])
    seen = []
    deadline = time.time() + 60
    while len(seen) < 100 and time.time() < deadline:
        m = consumer.poll(1.0)
        if m is None or m.error():
            continue
        seen.append(int(m.key()))
    assert sorted(seen) == list(range(100)), f"consumed {len(seen)}"
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition(new, p) for p in range(3)], timeout=30)
    assert sum(tp.offset for tp in committed) == 100, committed
    consumer.close()
    print("consume + commit: 100 records, committed offsets sum to 100")


def check_s3():
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs

    endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
    s3 = fs.S3FileSystem(
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme,
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ["AWS_REGION"],
    )
    bucket = urlparse(os.environ["PIPELAB_LAKE"]).netloc
    table = pa.table({"n": list(range(1000)), "s": [f"row {i}" for i in range(1000)]})
    pq.write_table(table, f"{bucket}/peers/data.parquet", filesystem=s3)
    listed = s3.get_file_info(fs.FileSelector(f"{bucket}/peers"))
    assert [f.base_name for f in listed] == ["data.parquet"], listed
    back = pq.read_table(f"{bucket}/peers/data.parquet", filesystem=s3)
    assert back.equals(table)
    print("s3: put, list and get of a Parquet object through", os.environ["AWS_ENDPOINT_URL"])


check_kafka()
check_s3()
print("ok")
