"""How long a transaction commit takes on the broker, by the number of partitions the transaction wrote to.

    KAFKA_BOOTSTRAP_SERVERS=... .venv/bin/python bench/txn_commit_cost.py

Each transaction writes 5 small records to each of N partitions; 40 transactions per N (BENCHMARKS.md, session 8)."""
import os, time, statistics, uuid
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bs = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
admin = AdminClient({"bootstrap.servers": bs})
topics = [f"txncost-{uuid.uuid4().hex[:6]}-{i}" for i in range(10)]
for f in admin.create_topics([NewTopic(t, 6, 1) for t in topics]).values(): f.result()
time.sleep(2)
p = Producer({"bootstrap.servers": bs, "transactional.id": "txncost-" + uuid.uuid4().hex[:6], "linger.ms": 5})
p.init_transactions(30)
for n in [1, 6, 12, 24, 48, 60]:
    parts = [(topics[i // 6], i % 6) for i in range(n)]
    times = []
    for r in range(40):
        p.begin_transaction()
        for t, part in parts:
            for k in range(5): p.produce(t, b"x" * 200, partition=part)
        t0 = time.perf_counter(); p.commit_transaction(30); times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"partitions {n:3d}: commit p50 {statistics.median(times):6.1f} ms, p90 {times[int(len(times)*0.9)]:6.1f} ms, max {times[-1]:6.1f} ms")
