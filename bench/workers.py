#!/usr/bin/env python3
"""workers.py: every worker against the ceiling (probe-worker passthrough) and the enrichment-worker
against its Python peer, on one broker and one data set, one process at a time. Called by `ops/bench`.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT bench/workers.py --count 200000 --rounds 1
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT bench/workers.py --smoke

What it does, in order:
 1. `cargowatch topics create`, then preloads the upstream topics with
    `cargowatch generate --count N --clean --no-truth-topic --start 2026-11-27T06:00:00Z`.
 2. Stage by stage (enrichment -> sensitivity -> fraud -> aggregation), each worker reads its FULL input
    topics with a fresh consumer group and instance id, in at_least_once and exactly_once. The first
    exactly_once run of a stage writes the catalogue's output topics (the next stage's input); every other
    run writes to `bench.<run>.<topic>` copies. Internal topics with fixed names (repartitions) are deleted
    and created again before each run so that a run never reads an earlier run's records.
    Throughput = input records / seconds from the first consumed record (the worker's
    cargowatch_records_in_total leaving 0, polled on /metrics every 50 ms: process start-up and the group
    join are excluded) to the last time its records in/out counters moved (after all input records were
    consumed, they must stay still for --quiet seconds). Peak RSS = VmHWM, CPU = utime+stime of the whole
    process (librdkafka's threads included) per million input records.
 3. The ceiling: probe-worker `probe.mode=passthrough` over each stage's biggest input topic, both modes.
 4. The peer: bench/peers/enrichment_peer.py over the same upstream topics, both modes.
 5. Latency: the enrichment-worker, then its ceiling (the probe-worker copying parcels.events unread), each with
    a fresh group that first reads its inputs to the end, while `cargowatch generate --rate R --duration D` offers
    new traffic; latency = broker timestamp of each output record - timestamp of the parcels.events record it came
    from (its cw.source.* headers).
    Timestamps are producer CreateTime, so for exactly_once this leaves out the wait for the transaction
    commit (<= commit.interval, 100 ms) a read_committed reader also sees.
Prints a table and writes JSON to $CARGOWATCH_STATE/bench/workers.json (or --json). No thresholds: this is a
benchmark, not a test.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLL = 0.02  # seconds between /metrics polls
SOAK_SAMPLE = 5  # seconds between the soak's RSS samples
# What keeps state for a time of event time (join window, dedup and memo retention): --soak-retention shortens them
# all, so that every store reaches its steady size early in the soak and memory growth after that is a leak.
SOAK_RETENTION_SETTINGS = ["enrichment.join.window", "fraud.memo_retention", "aggregation.dedup_retention"]
BROKER_MEMORY_LIMIT_SHARE = 0.6  # of the machine's memory: the soak stops when the local broker holds more
MODES = ["exactly_once", "at_least_once"]  # exactly_once first: its outputs feed the next stage
START = "2026-11-27T06:00:00Z"
PARTITIONS = 6

# The stages. inputs: topics read from outside the worker; outputs: setting key -> catalogue topic;
# internal: fixed-name internal topics (recreated before each run); settings: per-run internal topic names.
STAGES = [
    {"worker": "enrichment", "binary": "enrichment-worker",
     "inputs": {"enrichment.topics.parcels_in": "parcels.events", "enrichment.topics.declarations_in": "customs.declarations"},
     "outputs": {"enrichment.topics.parcels_out": "parcels.enriched", "enrichment.topics.declarations_out": "customs.enriched"},
     "run_internal": {"enrichment.topics.declarations_by_parcel": "enrichment.declarations-by-parcel"},
     "internal": []},
    {"worker": "sensitivity", "binary": "sensitivity-worker",
     "inputs": {"sensitivity.topics.parcels_in": "parcels.enriched", "sensitivity.topics.declarations_in": "customs.enriched",
                "sensitivity.topics.access_in": "access.logs"},
     "outputs": {"sensitivity.topics.parcels_out": "parcels.redacted", "sensitivity.topics.declarations_out": "customs.redacted",
                 "sensitivity.topics.access_out": "access.tagged"},
     "run_internal": {}, "internal": []},
    {"worker": "fraud", "binary": "fraud-worker",
     "inputs": {"fraud.topics.declarations_in": "customs.enriched", "fraud.topics.inspections_in": "customs.inspections"},
     "outputs": {"fraud.topics.risk_out": "customs.risk"},
     "run_internal": {}, "internal": ["fraud.declarations-by-seller", "fraud.ioss-usage"]},
    {"worker": "aggregation", "binary": "aggregation-worker",
     "inputs": {"aggregation.topics.parcels_in": "parcels.redacted", "aggregation.topics.risk_in": "customs.risk",
                "aggregation.topics.access_in": "access.tagged"},
     "outputs": {"aggregation.topics.flows_out": "agg.trade-flows", "aggregation.topics.risk_out": "agg.customs-risk",
                 "aggregation.topics.activity_out": "agg.access-activity", "aggregation.topics.alerts_out": "alerts.access"},
     "run_internal": {}, "internal": ["aggregation.flow-facts", "aggregation.risk-facts", "aggregation.peer-observations"]},
]


def log(msg):
    print(f"[workers] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Bench:
    def __init__(self, args):
        self.args = args
        self.bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        self.bin = os.path.abspath(args.bin)
        self.state = args.state
        os.makedirs(os.path.join(self.state, "logs"), exist_ok=True)
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.env = dict(os.environ)
        self.env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            # Tansu takes ~23 s per group join without these.
            "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "CARGOWATCH_LOG_LEVEL": "warning",
            "CARGOWATCH_PSEUDONYM_KEY": "bench-only-pseudonym-key-0123456789",
            "CARGOWATCH_REFERENCE_DIR": os.path.join(ROOT, "reference"),
        })
        self.counts = {}
        self.stores = {}  # worker -> changelog suffixes relative to its group ("-changelog", "-<task>-changelog")
        self.results = {"runs": [], "latency": []}

    # ------------------------------------------------------------------------- kafka helpers

    def cargowatch(self, *argv, env=None):
        cmd = [os.path.join(self.bin, "cargowatch"), *argv]
        log(" ".join(cmd))
        return subprocess.run(cmd, env=env or self.env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout

    def create_topics(self, names, config=None):
        names = [n for n in names if n]
        if not names:
            return
        futures = self.admin.create_topics([NewTopic(n, PARTITIONS, 1, config=config or {}) for n in names], operation_timeout=30)
        for name, f in futures.items():
            try:
                f.result()
            except KafkaException as e:
                if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
        self.wait_topics(names, present=True)

    def delete_topics(self, names):
        existing = set(self.admin.list_topics(timeout=10).topics)
        names = [n for n in names if n in existing]
        if not names:
            return
        for _, f in self.admin.delete_topics(names, operation_timeout=30).items():
            f.result()
        self.wait_topics(names, present=False)

    def wait_topics(self, names, present):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = self.admin.list_topics(timeout=10).topics
            if all((n in md and not md[n].error and len(md[n].partitions) == PARTITIONS) == present for n in names):
                return
            time.sleep(0.1)
        raise RuntimeError(f"topics {names} not {'present' if present else 'gone'} after 30 s")

    def watermarks(self, topic):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-watermarks"})
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in md.partitions}
        finally:
            c.close()

    def count(self, topic):
        """Committed records in a topic (read_committed: transaction markers and aborted records excluded)."""
        if topic in self.counts:
            return self.counts[topic]
        n = sum(1 for _ in iter_messages(self.bootstrap, topic))
        self.counts[topic] = n
        return n

    def changelog_suffixes(self):
        """From `cargowatch topics list`: each worker's changelogs, relative to its default group id."""
        out = self.cargowatch("topics", "list")
        names = [line.split("\t")[0] for line in out.splitlines() if line.split("\t")[0].endswith("-changelog")]
        for stage in STAGES:
            base = f"cargowatch-{stage['worker']}"
            self.stores[stage["worker"]] = [n[len(base):] for n in names if n.startswith(base + "-")]
            if not self.stores[stage["worker"]]:
                raise RuntimeError(f"no changelogs of {base} in `cargowatch topics list`")
        self.stores["probe"] = ["-changelog"]

    # ------------------------------------------------------------------------- one worker run

    def run_worker(self, label, binary, worker, mode, settings, inputs, expected, extra_env=None, until_quiet=True,
                   perf=None, after_catch_up=None):
        """Runs one worker until it consumed `expected` records of `inputs` and went quiet."""
        group = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        self.create_topics([group + s for s in self.stores[worker]], {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"})
        port = free_port()
        env = dict(self.env)
        env.update({"CARGOWATCH_GROUP_ID": group, "CARGOWATCH_INSTANCE_ID": group, "CARGOWATCH_PROCESSING_GUARANTEE": mode,
                    "CARGOWATCH_HTTP_PORT": str(port)})
        for key, value in settings.items():
            env["CARGOWATCH_" + key.upper().replace(".", "_")] = value
        env.update(extra_env or {})
        logfile = open(os.path.join(self.state, "logs", group + ".log"), "w")
        # Under perf, perf starts the worker (attaching with -p later misses the threads the tasks start).
        wrap = ["perf", "record", "-e", "cpu-clock", "-g", "-o", perf, "--"] if perf else []
        proc = subprocess.Popen(wrap + [os.path.join(self.bin, binary)], env=env, cwd=ROOT, stdout=logfile, stderr=subprocess.STDOUT)
        pid = worker_pid(proc.pid, binary) if perf else proc.pid
        url = f"http://127.0.0.1:{port}/metrics"
        broker = broker_pid(self.state)
        broker_cpu_before = cpu_seconds(broker) if broker else None
        started = time.monotonic()
        first = last_change = None
        prev, prev_at = None, None
        deadline = time.monotonic() + self.args.timeout
        metrics, baseline = {}, {}
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{binary} exited with {proc.returncode} (log {logfile.name})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not finish within {self.args.timeout} s: {metrics} (log {logfile.name})")
                now = time.monotonic()
                nothing_to_catch_up = after_catch_up is not None and expected == 0  # e.g. no inspections in a smoke run
                if first is None and not nothing_to_catch_up and now - started > self.args.startup_timeout:
                    raise RuntimeError(f"{binary} consumed nothing within {self.args.startup_timeout} s (log {logfile.name}): "
                                       + tail(logfile.name))
                metrics = scrape(url)
                if metrics is None:
                    time.sleep(POLL)
                    continue
                rin, rout = metrics["in"], metrics["out"]
                snapshot = (sum(rin.values()), sum(rout.values()))
                if snapshot != prev:
                    # A change happened between the previous poll and this one: take the midpoint.
                    at = now if prev_at is None else (prev_at + now) / 2
                    if first is None and snapshot[0] > 0:
                        first = at
                    last_change, prev = at, snapshot
                prev_at = now
                consumed = sum(rin.get(t, 0) for t in inputs)
                if nothing_to_catch_up or consumed >= expected and first is not None and now - last_change >= self.args.quiet:
                    if after_catch_up is None:
                        break
                    if nothing_to_catch_up:
                        wait_ready(f"http://127.0.0.1:{port}", proc, self.args.startup_timeout)  # joined and assigned
                    baseline = metrics.get("hist", {})  # the histograms below then cover the traffic only

                    def mark():  # after a warm-up: the histograms cover what comes next only
                        nonlocal baseline
                        baseline = (scrape(url) or {}).get("hist", baseline)

                    after_catch_up(mark)  # e.g. paced traffic; then wait until that is processed too
                    after_catch_up, expected = None, 0
                    prev_at, last_change = None, time.monotonic()  # the quiet period starts after the traffic
                    continue
                time.sleep(POLL)
            rss_kib, cpu_s = proc_stats(pid)
            broker_cpu_s = cpu_seconds(broker) - broker_cpu_before if broker else None
            seconds = last_change - first
            result = {"label": label, "worker": binary, "mode": mode, "group": group, "input_topics": inputs,
                      "records": consumed, "seconds": round(seconds, 3),
                      "records_per_s": round(consumed / seconds) if seconds > 0 else None,
                      "records_out": {t: n for t, n in rout.items()}, "peak_rss_mib": round(rss_kib / 1024, 1),
                      "cpu_s_per_million": round(cpu_s / consumed * 1e6, 2) if consumed else None,
                      # the broker's CPU over the worker's life (it serves nothing else meanwhile): shares the two cores
                      "broker_cpu_s_per_million": round(broker_cpu_s / consumed * 1e6, 2) if consumed and broker_cpu_s is not None else None,
                      "transactions": metrics.get("txn", {}), "dead_letters": metrics.get("dlq", 0),
                      # where the time goes inside the worker: a record's age when its handler runs, and each commit (the loop stalls)
                      "record_age": histogram_summary(since(metrics, baseline, "cargowatch_record_latency_seconds")),
                      "commit": histogram_summary(since(metrics, baseline, "cargowatch_commit_seconds"))}
            return result
        finally:
            if perf and pid != proc.pid:
                try:
                    os.kill(pid, signal.SIGTERM)  # the worker stops cleanly; perf then writes its data and exits
                except ProcessLookupError:
                    pass
            stop(proc)
            logfile.close()

    # ------------------------------------------------------------------------- the benchmark

    def preload(self):
        self.cargowatch("topics", "create")
        self.create_topics(["dlq.probe"])  # the probe-worker's dead letters (not in the catalogue)
        self.changelog_suffixes()
        self.cargowatch("generate", "--count", str(self.args.count), "--clean", "--no-truth-topic", "--start", START)
        for t in ["parcels.events", "customs.declarations", "customs.inspections", "access.logs"]:
            log(f"{t}: {self.count(t)} records")

    def stage(self, stage, rnd, modes=MODES):
        worker = stage["worker"]
        inputs = list(stage["inputs"].values())
        expected = sum(self.count(t) for t in inputs)
        for mode in modes:
            canonical = mode == "exactly_once" and rnd == 0
            label = f"{worker}-{mode.split('_')[0]}-r{rnd}"
            settings = {}
            new_topics = []
            for key, topic in stage["outputs"].items():
                if not canonical:
                    settings[key] = f"bench.{label}.{topic}"
                    new_topics.append(settings[key])
            for key, topic in stage["run_internal"].items():
                settings[key] = f"bench.{label}.{topic}"
                new_topics.append(settings[key])
            self.delete_topics(stage["internal"])
            self.create_topics(stage["internal"])
            self.create_topics(new_topics)
            log(f"{label}: {expected} records from {', '.join(inputs)}")
            r = self.run_worker(label, stage["binary"], worker, mode, settings, inputs, expected)
            r["round"], r["kind"], r["stage"] = rnd, "worker", worker
            self.results["runs"].append(r)
            log(f"{label}: {r['records_per_s']} records/s, {r['seconds']} s, {r['peak_rss_mib']} MiB, {r['cpu_s_per_million']} CPU s/M")

    def ceiling(self, stage, rnd):
        inputs = list(stage["inputs"].values())
        topic = max(inputs, key=self.count)
        for mode in MODES:
            label = f"probe-{stage['worker']}-{mode.split('_')[0]}-r{rnd}"
            out = f"bench.{label}.out"
            self.create_topics([out])
            r = self.run_worker(label, "probe-worker", "probe", mode,
                                {"probe.mode": "passthrough", "probe.input": topic, "probe.output": out}, [topic], self.count(topic))
            r["round"], r["kind"], r["stage"] = rnd, "ceiling", stage["worker"]
            self.results["runs"].append(r)
            log(f"{label}: {r['records_per_s']} records/s over {topic}")

    def peer(self, rnd):
        inputs = ["parcels.events", "customs.declarations"]
        expected = sum(self.count(t) for t in inputs)
        for mode in MODES:
            label = f"peer-enrichment-{mode.split('_')[0]}-r{rnd}"
            group = f"bench-{label}-{uuid.uuid4().hex[:6]}"
            outs = [f"bench.{label}.parcels.enriched", f"bench.{label}.customs.enriched"]
            self.create_topics(outs)
            cmd = [self.args.python, os.path.join(ROOT, "bench", "peers", "enrichment_peer.py"), "--bootstrap", self.bootstrap,
                   "--group", group, "--guarantee", mode, "--expect", str(expected),
                   "--output-parcels", outs[0], "--output-declarations", outs[1]]
            log(" ".join(cmd))
            out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True, timeout=self.args.timeout).stdout
            p = json.loads(out.strip().splitlines()[-1])
            r = {"label": label, "worker": "enrichment_peer.py", "mode": mode, "group": group, "input_topics": inputs,
                 "records": p["records"], "seconds": p["seconds"], "records_per_s": p["records_per_s"],
                 "peak_rss_mib": p["peak_rss_mib"], "cpu_s_per_million": round(p["cpu_seconds"] / p["records"] * 1e6, 2),
                 "round": rnd, "kind": "peer", "stage": "enrichment"}
            self.results["runs"].append(r)
            log(f"{label}: {r['records_per_s']} records/s")

    LATENCY_WORKERS = ["enrichment", "probe"]

    def latency(self, mode, worker="enrichment"):
        """One worker at a fixed offered rate: it first reads the preload to the end (fresh group), then
        `cargowatch generate --rate R --duration D` offers new traffic; latency of every parcel event produced from
        then on. `enrichment`: parcels.events -> parcels.enriched. `probe`: the ceiling, the probe-worker copying
        parcels.events unread on the same runtime. Each (worker, mode) has its own seed and start: ids follow the
        start, and a later run must not see an earlier run's events again (the enricher drops duplicates)."""
        label = f"latency-{worker}-{mode.split('_')[0]}"
        if worker == "enrichment":
            binary, settings = "enrichment-worker", {"enrichment.topics.parcels_out": f"bench.{label}.parcels.enriched",
                                                     "enrichment.topics.declarations_out": f"bench.{label}.customs.enriched",
                                                     "enrichment.topics.declarations_by_parcel": f"bench.{label}.declarations-by-parcel"}
            inputs, out = ["parcels.events", "customs.declarations"], settings["enrichment.topics.parcels_out"]
            self.create_topics(list(settings.values()))
        else:
            out = f"bench.{label}.parcels.events"
            binary, settings, inputs = "probe-worker", {"probe.mode": "passthrough", "probe.input": "parcels.events", "probe.output": out}, ["parcels.events"]
            self.create_topics([out])
        expected = sum(self.count(t) for t in inputs)
        # In run order, so that event time only moves forward: a fresh group reads every earlier run's traffic
        # first, and an earlier start after a later one would be late for the enricher's windows.
        slot = MODES.index(mode) * len(self.LATENCY_WORKERS) + self.LATENCY_WORKERS.index(worker)
        gen = {}

        def traffic(mark):
            day = f"{2026 + (slot + 11) // 12}-{(slot + 11) % 12 + 1:02d}-20"
            generate = [os.path.join(self.bin, "cargowatch"), "generate", "--rate", str(self.args.rate), "--clean", "--no-truth-topic",
                        "--no-access-logs"]
            # Warm-up, not measured: the month's jump in event time expires the earlier runs' join state in one sweep
            # (a ~0.4 s stall at the third run, all of its p99). Two hours of event time before the measured traffic,
            # with parcel ids of its own.
            warm_up = generate + ["--duration", "1s", "--seed", str(5242 + slot), "--start", f"{day}T04:00:00Z",
                                  "--first-parcel-serial", "900000000"]
            if subprocess.run(warm_up, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=self.args.timeout).returncode != 0:
                raise RuntimeError("generator failed (warm-up)")
            time.sleep(2)
            mark()
            cmd = generate + ["--duration", self.args.duration, "--seed", str(4242 + slot), "--start", f"{day}T06:00:00Z"]
            log(" ".join(cmd))
            gen["start_ms"] = int(time.time() * 1000)
            if subprocess.run(cmd, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=self.args.timeout).returncode != 0:
                raise RuntimeError("generator failed")
            gen["end_ms"] = int(time.time() * 1000)

        run = self.run_worker(label, binary, worker, mode, settings, inputs, expected, after_catch_up=traffic)
        up = read_topic(self.bootstrap, "parcels.events", None, with_source=False)
        up = {k: ts for k, ts in up.items() if ts >= gen["start_ms"]}
        down = read_topic(self.bootstrap, out, None, with_source=True)
        lat = sorted(ts - up[src] for src, ts in down if src in up)
        r = {"label": label, "worker": binary, "mode": mode, "offered_rate": self.args.rate,
             "duration": self.args.duration, "parcel_events_produced": len(up), **latency_stats(lat),
             "record_age": run["record_age"], "commit": run["commit"]}
        if len(lat) < 0.9 * len(up):  # a latency over a few survivors would mislead: say so
            r["warning"] = f"only {len(lat)} of {len(up)} parcel events came out (late or dropped?)"
            log(f"WARNING {label}: {r['warning']}")
        self.results["latency"].append(r)
        log(f"{label}: {r}")

    # Downstream workers at a fixed offered rate: (stage, replayed input setting, canonical input topic, output setting,
    # internal topic between the input and the output or None). Their input is replayed from what the upstream stage wrote.
    REPLAY_LATENCY = [("sensitivity", "sensitivity.topics.parcels_in", "parcels.enriched", "sensitivity.topics.parcels_out", None),
                      ("fraud", "fraud.topics.declarations_in", "customs.enriched", "fraud.topics.risk_out", "fraud.declarations-by-seller")]

    def replay_latency(self, mode, stage_name):
        """A downstream worker alone at the offered rate: a fresh group reads its other inputs to the end, then the records
        the upstream stage wrote to its main input are produced again, at --rate for --duration, into a fresh topic it reads
        instead; latency = broker timestamp of each output - that of the replayed record it came from (through the internal
        topic's cw.source.* headers when the worker re-keys first). Needs the canonical upstream outputs (round 0)."""
        stage_def = next(s for s in STAGES if s["worker"] == stage_name)
        _, in_key, in_topic, out_key, internal = next(r for r in self.REPLAY_LATENCY if r[0] == stage_name)
        label = f"latency-{stage_name}-{mode.split('_')[0]}"
        replay = f"bench.{label}.replay.{in_topic}"
        settings = {in_key: replay}
        for key, topic in {**stage_def["outputs"], **stage_def["run_internal"]}.items():
            settings[key] = f"bench.{label}.{topic}"
        self.delete_topics(stage_def["internal"])
        self.create_topics(stage_def["internal"] + list(settings.values()))
        others = [t for k, t in stage_def["inputs"].items() if k != in_key]
        expected = sum(self.count(t) for t in others)
        source = [(m.partition(), m.key(), m.value(), m.headers()) for m in read_messages(self.bootstrap, in_topic)]
        if not source:
            raise RuntimeError(f"{in_topic} is empty: run the upstream stage first")
        gen = {}
        # Each record once: a replayed duplicate would be dropped by the worker's dedup and never come out.
        seconds = min(parse_seconds(self.args.duration), len(source) / self.args.rate)

        # One record per partition first, outside the measurement: it connects the replaying producer and wakes the
        # worker's fetches of the new topic, neither of which is the worker's latency.
        firsts = {}
        for i, rec in enumerate(source):
            firsts.setdefault(rec[0], i)
        warm = [source[i] for i in sorted(firsts.values())]
        rest = [rec for i, rec in enumerate(source) if i not in set(firsts.values())]
        seconds = min(seconds, len(rest) / self.args.rate)

        def traffic(mark):
            producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, "enable.idempotence": True})
            paced_produce(producer, replay, warm, len(warm), 1)
            time.sleep(3)
            mark()
            gen["start_ms"] = int(time.time() * 1000)
            paced_produce(producer, replay, rest, self.args.rate, seconds)
            gen["end_ms"] = int(time.time() * 1000)

        run = self.run_worker(label, stage_def["binary"], stage_name, mode, settings, others, expected, after_catch_up=traffic)
        up = {k: ts for k, ts in read_topic(self.bootstrap, replay, None, with_source=False).items() if ts >= gen["start_ms"]}
        out = settings[out_key]
        if internal:
            hop = read_topic_sources(self.bootstrap, internal, replay)
            down = [(hop[k], ts) for k, ts in read_topic(self.bootstrap, out, None, with_source=True, source_topic=internal) if k in hop]
        else:
            down = read_topic(self.bootstrap, out, None, with_source=True, source_topic=replay)
        lat = sorted(ts - up[k] for k, ts in down if k in up)
        r = {"label": label, "worker": stage_def["binary"], "mode": mode, "offered_rate": self.args.rate, "duration": f"{seconds:.0f}s",
             "replayed": len(up), **latency_stats(lat), "record_age": run["record_age"], "commit": run["commit"],
             "parcel_events_produced": len(up)}
        if len(lat) < 0.9 * len(up):
            r["warning"] = f"only {len(lat)} of {len(up)} replayed records came out"
            log(f"WARNING {label}: {r['warning']}")
        self.results["latency"].append(r)
        log(f"{label}: {r}")

    def profile(self, stage_name, seconds):
        stage = next(s for s in STAGES if s["worker"] == stage_name)
        label = f"profile-{stage_name}"
        settings = {}
        for key, topic in {**stage["outputs"], **stage["run_internal"]}.items():
            settings[key] = f"bench.{label}.{topic}"
        self.delete_topics(stage["internal"])
        self.create_topics(stage["internal"] + list(settings.values()))
        inputs = list(stage["inputs"].values())
        perf_data = os.path.join(self.state, f"perf-{stage_name}.data")
        self.run_worker(label, stage["binary"], stage_name, "exactly_once", settings, inputs, sum(self.count(t) for t in inputs),
                        perf=perf_data)
        report = subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--stdio", "--percent-limit", "1.5",
                                 "-g", "none", "--sort", "dso,sym"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        path = os.path.join(self.state, f"perf-{stage_name}.txt")
        with open(path, "w") as f:
            f.write(report)
        self.results["profile"] = {"worker": stage_name, "perf_data": perf_data, "report": path}
        log(f"profile of {stage_name}: {path}")

    def soak(self, duration):
        """The whole fleet (every worker, exactly-once, fresh groups, catalogue topics) under `--rate` records/s of
        generated traffic for `duration`; every worker's RSS sampled every SOAK_SAMPLE seconds. The generator's event
        time runs at its default 3,600 parcels per hour, far faster than the wall clock, so windows, joins and
        retention roll over many times and every store reaches the size it keeps: memory that still grows after that
        is a leak, not state filling up."""
        self.cargowatch("topics", "create")
        procs = {}
        try:
            for stage in STAGES:
                group = f"bench-soak-{stage['worker']}-{uuid.uuid4().hex[:6]}"
                port = free_port()
                env = dict(self.env)
                env.update({"CARGOWATCH_GROUP_ID": group, "CARGOWATCH_INSTANCE_ID": group,
                            "CARGOWATCH_PROCESSING_GUARANTEE": "exactly_once", "CARGOWATCH_HTTP_PORT": str(port)})
                if self.args.soak_retention:
                    for key in SOAK_RETENTION_SETTINGS:
                        env["CARGOWATCH_" + key.upper().replace(".", "_")] = self.args.soak_retention
                logfile = open(os.path.join(self.state, "logs", group + ".log"), "w")
                proc = subprocess.Popen([os.path.join(self.bin, stage["binary"])], env=env, cwd=ROOT, stdout=logfile,
                                        stderr=subprocess.STDOUT)
                procs[stage["worker"]] = (proc, f"http://127.0.0.1:{port}", logfile, list(stage["inputs"].values()))
            for name, (proc, base, logfile, _) in procs.items():
                wait_ready(base, proc, self.args.startup_timeout)
            cmd = [os.path.join(self.bin, "cargowatch"), "generate", "--rate", str(self.args.rate), "--duration", duration,
                   "--seed", "4343", "--no-truth-topic"]
            log(" ".join(cmd))
            gen = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started = time.monotonic()
            samples = []  # (seconds since start, {worker: (rss MiB, cpu s, records in, store keys)})
            keys_by_task = {}  # worker -> {task: store keys}, latest
            last_in, last_change = None, 0.0
            while True:
                row = {}
                for name, (proc, base, logfile, inputs) in procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name}-worker exited with {proc.returncode} during the soak (log {logfile.name})")
                    with open(f"/proc/{proc.pid}/status") as f:
                        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
                    _, cpu = proc_stats(proc.pid)
                    m = scrape(base + "/metrics") or {"in": {}}
                    row[name] = (round(rss, 1), round(cpu, 1), sum(m["in"].get(t, 0) for t in inputs), m.get("keys"))
                    keys_by_task[name] = m.get("keys_by_task")
                broker = broker_rss_mib()
                if broker is not None:
                    row["broker"] = (broker, None, None, None)
                    # The local broker keeps every record in memory (no retention): stop before it takes the machine.
                    if broker > BROKER_MEMORY_LIMIT_SHARE * total_memory_mib():
                        raise RuntimeError(f"the local broker holds {broker:.0f} MiB (in-memory storage keeps every record): "
                                           "lower --rate or the duration")
                now = time.monotonic() - started
                samples.append((round(now, 1), row))
                total_in = sum(v[2] for k, v in row.items() if k != "broker")
                if total_in != last_in:
                    last_in, last_change = total_in, now
                if gen.poll() is not None:  # the load is over: stop once every worker has caught up (no progress)
                    if gen.returncode != 0:
                        raise RuntimeError("generator failed")
                    if now - last_change >= 2 * SOAK_SAMPLE or now > parse_seconds(duration) + self.args.timeout:
                        break
                time.sleep(SOAK_SAMPLE)
            produced = {t: self.count(t) for t in ["parcels.events", "customs.declarations", "customs.inspections", "access.logs"]}
            result = {"duration": duration, "offered_rate": self.args.rate, "retention": self.args.soak_retention or "defaults",
                      "produced": produced, "samples": samples, "workers": {}}
            gen_seconds = parse_seconds(duration)
            result["broker_rss_mib_end"] = samples[-1][1].get("broker", (None,))[0]
            for name in procs:
                series = [(t, row[name][0]) for t, row in samples]
                steady = [(t, r) for t, r in series if t >= gen_seconds / 2 and t <= gen_seconds]  # second half of the load
                slope = least_squares_slope(steady) * 60 if len(steady) >= 3 else None
                first_min = next((r for t, r in series if t >= 60), series[0][1])
                result["workers"][name] = {
                    "rss_mib_at_1_min": first_min, "rss_mib_peak": max(r for _, r in series), "rss_mib_end": series[-1][1],
                    "rss_growth_mib_per_min_second_half": round(slope, 2) if slope is not None else None,
                    "cpu_s": samples[-1][1][name][1], "records_in": samples[-1][1][name][2],
                    # state size: growth here is state filling its retention, not a leak
                    "store_keys_at_half": next((row[name][3] for t, row in samples if t >= gen_seconds / 2), None),
                    "store_keys_end": samples[-1][1][name][3], "store_keys_end_by_task": keys_by_task.get(name)}
                log(f"soak {name}: {result['workers'][name]}")
            if self.args.fleet_latency:
                result["latency"] = self.fleet_latency()
            self.results["soak"] = result
        finally:
            for proc, _, logfile, _ in procs.values():
                stop(proc)
                logfile.close()

    # Per stage of the fleet: (name, input topic, output topic); outputs name their input record in cw.source.* headers.
    # The aggregation-worker is not here: its outputs are windows, final once the window and its grace have passed.
    # The fraud-worker's outputs name its internal re-keyed topic, whose records name the input.
    FLEET_STAGES = [("enrichment-worker", "parcels.events", "parcels.enriched", None),
                    ("sensitivity-worker", "parcels.enriched", "parcels.redacted", None),
                    ("fraud-worker", "customs.enriched", "customs.risk", "fraud.declarations-by-seller")]

    def fleet_latency(self):
        """After a paced fleet run: for each stage, output broker timestamp - its input record's timestamp; and the
        two-stage path parcels.events -> parcels.redacted."""
        read = {}  # topic -> {(partition, offset): (timestamp, (partition, offset) of its source or None)}; each topic read once

        def records(topic, source_topic):
            if topic not in read:
                read[topic] = {(m.partition(), m.offset()): (m.timestamp()[1], source_of(m, source_topic))
                               for m in iter_messages(self.bootstrap, topic)}
            return read[topic]

        results = []
        for name, src, out, internal in self.FLEET_STAGES:
            up = records(src, None)
            if internal:
                hop = records(internal, src)
                down = {k: (ts, hop[s][1] if s in hop else None) for k, (ts, s) in records(out, internal).items()}
            else:
                down = records(out, src)
            lat = sorted(ts - up[s][0] for ts, s in down.values() if s in up)
            results.append({"stage": name, "input": src, "output": out, "input_records": len(up), **latency_stats(lat)})
        # parcels.events -> parcels.enriched -> parcels.redacted, through both stages' headers
        events, enriched = read["parcels.events"], read["parcels.enriched"]
        lat = sorted(ts - events[enriched[s][1]][0] for ts, s in read["parcels.redacted"].values()
                     if s in enriched and enriched[s][1] in events)
        results.append({"stage": "enrichment + sensitivity", "input": "parcels.events", "output": "parcels.redacted", **latency_stats(lat)})
        for r in results:
            log(f"latency {r}")
        return results

    def summarize(self):
        rows = []
        runs = self.results["runs"]

        def median(kind, stage, mode, field="records_per_s"):
            xs = [r[field] for r in runs if r["kind"] == kind and r["stage"] == stage and r["mode"] == mode and r.get(field)]
            return statistics.median(xs) if xs else None

        for stage in STAGES:
            for mode in MODES:
                w = median("worker", stage["worker"], mode)
                c = median("ceiling", stage["worker"], mode)
                p = median("peer", stage["worker"], mode) if stage["worker"] == "enrichment" else None
                rows.append({"worker": stage["binary"], "mode": mode,
                             "records": next((r["records"] for r in runs if r["kind"] == "worker" and r["stage"] == stage["worker"]), None),
                             "records_per_s": w, "ceiling_per_s": c, "vs_ceiling": round(w / c, 3) if w and c else None,
                             "peer_per_s": p, "vs_peer": round(w / p, 2) if w and p else None,
                             "peak_rss_mib": median("worker", stage["worker"], mode, "peak_rss_mib"),
                             "cpu_s_per_million": median("worker", stage["worker"], mode, "cpu_s_per_million"),
                             "broker_cpu_s_per_million": median("worker", stage["worker"], mode, "broker_cpu_s_per_million"),
                             "ceiling_cpu_s_per_million": median("ceiling", stage["worker"], mode, "cpu_s_per_million"),
                             "ceiling_broker_cpu_s_per_million": median("ceiling", stage["worker"], mode, "broker_cpu_s_per_million")})
            if stage["worker"] == "enrichment":
                for mode in MODES:
                    rows.append({"worker": "enrichment_peer.py", "mode": mode, "records": None,
                                 "records_per_s": median("peer", "enrichment", mode), "ceiling_per_s": None, "vs_ceiling": None,
                                 "peer_per_s": None, "vs_peer": None,
                                 "peak_rss_mib": median("peer", "enrichment", mode, "peak_rss_mib"),
                                 "cpu_s_per_million": median("peer", "enrichment", mode, "cpu_s_per_million")})
        self.results["table"] = rows
        return rows


# ----------------------------------------------------------------------------------- helpers

LINE = re.compile(r'^(cargowatch_[a-z_]+)\{([^}]*)\}\s+([0-9.eE+-]+)')


def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    m = {"in": {}, "out": {}, "txn": {}, "dlq": 0, "hist": {}}
    for line in text.splitlines():
        hit = LINE.match(line)
        if not hit:
            continue
        name, labels, value = hit.group(1), dict(re.findall(r'(\w+)="([^"]*)"', hit.group(2))), float(hit.group(3))
        if name == "cargowatch_records_in_total":
            m["in"][labels.get("topic")] = int(value)
        elif name == "cargowatch_records_out_total":
            m["out"][labels.get("topic")] = int(value)
        elif name == "cargowatch_transactions_total":
            m["txn"][labels.get("outcome")] = int(value)
        elif name == "cargowatch_dead_letters_total":
            m["dlq"] += int(value)
        elif name == "cargowatch_state_store_keys":
            m["keys"] = m.get("keys", 0) + int(value)
            m.setdefault("keys_by_task", {})[labels.get("task")] = int(value)
        elif name.endswith("_seconds_bucket") and "le" in labels:
            h = m["hist"].setdefault(name[:-len("_bucket")], {})
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            h[le] = h.get(le, 0) + int(value)
    return m


def since(metrics, baseline, name):
    """A histogram's buckets minus those of an earlier scrape."""
    now, before = metrics.get("hist", {}).get(name), baseline.get(name, {})
    return {le: n - before.get(le, 0) for le, n in now.items()} if now else None


def histogram_summary(buckets):
    """Count and the bucket bounds (ms) holding the median and the 99th percentile of a Prometheus histogram."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return {"count": 0}

    def q(p):
        return next((b * 1000 if b != float("inf") else None) for b in bounds if buckets[b] >= p * total)
    return {"count": total, "p50_le_ms": q(0.5), "p99_le_ms": q(0.99)}


def worker_pid(parent, binary):
    """The worker started by perf (its child)."""
    for _ in range(100):
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                for child in f.read().split():
                    with open(f"/proc/{child}/comm") as g:
                        if g.read().strip() == binary[:15]:
                            return int(child)
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{binary} did not start under perf")


def tail(path, n=3):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def wait_ready(base, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("worker not ready")


def broker_pid(state):
    """The local broker's pid (ops/broker's pid file), or None (an outside broker: its CPU is not measured)."""
    for d in (os.environ.get("CARGOWATCH_STATE"), state, os.path.dirname(state)):
        try:
            with open(os.path.join(d, "broker.pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (TypeError, OSError, ValueError, IndexError):
            continue
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return hwm, cpu_seconds(pid)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def iter_messages(bootstrap, topic, start=None):
    """Every committed record of a topic (read_committed), from `start` ({partition: offset}) or the beginning."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-{uuid.uuid4().hex[:8]}", "isolation.level": "read_committed",
                  "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p, start[p] if start else -2) for p in md.partitions]
        pending = {tp.partition for tp in tps if c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1] > max(tp.offset, 0)}
        c.assign([tp for tp in tps if tp.partition in pending])
        while pending:
            for m in c.consume(10000, timeout=1.0):
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        pending.discard(m.partition())
                    continue
                yield m
    finally:
        c.close()


def source_of(m, source_topic):
    """(partition, offset) of the `source_topic` record a derived record came from (its cw.source.* headers), or None."""
    h = dict(m.headers() or [])
    if source_topic is None or h.get("cw.source.topic") != source_topic.encode():
        return None
    return int(h["cw.source.partition"]), int(h["cw.source.offset"])


def read_topic(bootstrap, topic, start, with_source, source_topic="parcels.events"):
    """All committed records of a topic: {(partition, offset): timestamp}, or with_source [((partition, offset) of the
    record of `source_topic` it came from, timestamp)]."""
    if with_source:
        return [(src, m.timestamp()[1]) for m in iter_messages(bootstrap, topic, start) if (src := source_of(m, source_topic))]
    return {(m.partition(), m.offset()): m.timestamp()[1] for m in iter_messages(bootstrap, topic, start)}


def read_messages(bootstrap, topic):
    """Every committed record of a topic, partition by partition."""
    return list(iter_messages(bootstrap, topic))


def paced_produce(p, topic, records, rate, seconds):
    """Produces (partition, key, value, headers) records in order, cycling, at `rate` per second for `seconds`, each with
    its produce time as timestamp (librdkafka's default CreateTime), with producer `p` (already connected: a new producer's
    first records wait for its connection and producer id, and would count that against the worker)."""
    started, n, total = time.monotonic(), 0, int(rate * seconds)
    while n < total:
        due = started + n / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        for _ in range(max(1, rate // 200)):  # in small bursts: a sleep per record would cost more than the pacing
            if n >= total:
                break
            part, key, value, headers = records[n % len(records)]
            p.produce(topic, value=value, key=key, partition=part, headers=headers)
            n += 1
        p.poll(0)
    p.flush(30)


def read_topic_sources(bootstrap, topic, source_topic):
    """{(partition, offset) of a record of `topic`: (partition, offset) of the `source_topic` record it came from}."""
    return {(m.partition(), m.offset()): src for m in iter_messages(bootstrap, topic) if (src := source_of(m, source_topic))}


def broker_rss_mib():
    """RSS of the local broker (Tansu) when it runs on this machine."""
    pids = subprocess.run(["pgrep", "-f", "tansu broker"], stdout=subprocess.PIPE, text=True).stdout.split()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                return round(next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024, 1)
        except (OSError, StopIteration):
            continue
    return None


def total_memory_mib():
    with open("/proc/meminfo") as f:
        return int(next(line.split()[1] for line in f if line.startswith("MemTotal:"))) / 1024


def parse_seconds(text):
    """`90s`, `10m`, `1h` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def least_squares_slope(points):
    """Slope of the least-squares line through (x, y) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def latency_stats(lat):
    """Matched count and percentiles (ms) of sorted latencies."""
    return {"matched": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "p999_ms": pct(lat, 99.9),
            "max_ms": lat[-1] if lat else None}


def pct(xs, q):
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def fmt(x, spec="{:,.0f}"):
    return "-" if x is None else spec.format(x)


def print_table(rows, latency):
    print()
    print(f"{'worker':<22}{'mode':<15}{'records':>9}{'rec/s':>10}{'ceiling':>10}{'vs ceil':>9}{'peer':>9}{'vs peer':>9}{'RSS MiB':>9}{'CPU s/M':>9}"
          f"{'broker':>8}{'ceil brk':>9}")
    for r in rows:
        print(f"{r['worker']:<22}{r['mode']:<15}{fmt(r['records']):>9}{fmt(r['records_per_s']):>10}{fmt(r['ceiling_per_s']):>10}"
              f"{fmt(r['vs_ceiling'], '{:.0%}'):>9}{fmt(r['peer_per_s']):>9}{fmt(r['vs_peer'], '{:.2f}x'):>9}"
              f"{fmt(r['peak_rss_mib'], '{:.0f}'):>9}{fmt(r['cpu_s_per_million'], '{:.1f}'):>9}"
              f"{fmt(r.get('broker_cpu_s_per_million'), '{:.1f}'):>8}{fmt(r.get('ceiling_broker_cpu_s_per_million'), '{:.1f}'):>9}")
    print("(CPU s/M: the worker's CPU seconds per million input records; broker, ceil brk: the broker's, while the worker and "
          "while its ceiling ran)")
    for lt in latency:
        print(f"latency {lt['worker']} {lt['mode']} at {lt['offered_rate']}/s for {lt['duration']}: "
              f"p50 {lt['p50_ms']} ms, p99 {lt['p99_ms']} ms, p99.9 {lt['p999_ms']} ms, max {lt['max_ms']} ms "
              f"({lt['matched']} of {lt['parcel_events_produced']} parcel events); in the worker: record age at the handler "
              f"{lt['record_age']}, commits {lt['commit']}")


def print_soak(soak):
    print(f"\nsoak: whole fleet, {soak['offered_rate']} records/s for {soak['duration']} ({sum(soak['produced'].values()):,} upstream records), "
          f"retention: {soak['retention']}")
    print(f"{'worker':<14}{'records in':>12}{'RSS 1 min':>11}{'RSS peak':>10}{'RSS end':>9}{'MiB/min, 2nd half':>19}{'CPU s':>8}"
          f"{'keys at half':>14}{'keys at end':>13}")
    for name, w in soak["workers"].items():
        print(f"{name:<14}{w['records_in']:>12,}{w['rss_mib_at_1_min']:>11.0f}{w['rss_mib_peak']:>10.0f}{w['rss_mib_end']:>9.0f}"
              f"{fmt(w['rss_growth_mib_per_min_second_half'], '{:+.2f}'):>19}{w['cpu_s']:>8.0f}"
              f"{fmt(w['store_keys_at_half']):>14}{fmt(w['store_keys_end']):>13}")
    print(f"local broker at the end: {fmt(soak.get('broker_rss_mib_end'))} MiB")
    for r in soak.get("latency", []):
        print(f"latency {r['stage']} ({r['input']} -> {r['output']}): p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
              f"p99.9 {r['p999_ms']} ms, max {r['max_ms']} ms ({r['matched']:,} records)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny run that only checks everything works")
    ap.add_argument("--count", type=int, default=200000, help="upstream records to preload")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every measurement (the table shows medians)")
    ap.add_argument("--rate", type=int, default=5000, help="offered rate of the latency run (records/s)")
    ap.add_argument("--duration", default="30s", help="length of the latency run")
    ap.add_argument("--quiet", type=float, default=1.5, help="seconds without progress that end a run")
    ap.add_argument("--timeout", type=float, default=600, help="longest a single run may take (s)")
    ap.add_argument("--startup-timeout", type=float, default=90, help="longest a worker may take to consume its first record (s)")
    ap.add_argument("--profile", default="", help="after the runs, one exactly_once run of this stage (or 'auto': the lowest "
                    "ratio to its ceiling) under `perf record -g`; the report goes next to the JSON")
    ap.add_argument("--profile-only", default="", help="preload, the stages before this one (exactly_once), then its profile")
    ap.add_argument("--latency-only", action="store_true", help="preload and the latency runs only")
    ap.add_argument("--soak", default="", help="instead of everything else: the whole fleet under --rate records/s for this "
                    "long (e.g. 10m), every worker's RSS sampled every 5 s")
    ap.add_argument("--soak-retention", default="", help="with --soak: this event-time retention for "
                    + ", ".join(SOAK_RETENTION_SETTINGS) + " (e.g. 6h; the soak's event time runs ~80 h in 10 min)")
    ap.add_argument("--fleet-latency", action="store_true", help="with --soak: afterwards, each stage's latency over the "
                    "whole run (output broker timestamp - its input record's), at the soak's rate")
    ap.add_argument("--replay-latency", action="store_true", help="also the latency of the sensitivity- and fraud-workers, "
                    "their main input replayed at --rate (with --latency-only, the upstream stages run once first)")
    ap.add_argument("--latency-workers", default="", help="comma-separated: which latency runs (enrichment, probe, sensitivity, "
                    "fraud; default: all that the other flags select)")
    ap.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    ap.add_argument("--stages", default="", help="comma-separated workers whose throughput to measure (default: all; "
                    "a stage reads what the earlier stages wrote, so name them from the first)")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    ap.add_argument("--state", default=os.path.join(os.environ.get("CARGOWATCH_STATE", os.path.join(ROOT, ".cache")), "bench"))
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if args.smoke:
        args.count, args.rounds, args.rate, args.duration = 5000, 1, 500, "3s"
        args.replay_latency = True
    bench = Bench(args)
    started = time.monotonic()
    bench.results["settings"] = {"count": args.count, "rounds": args.rounds, "rate": args.rate, "duration": args.duration,
                                 "smoke": args.smoke, "machine": machine()}
    if args.soak:
        bench.soak(args.soak)
        path = args.json or os.path.join(args.state, "soak.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(bench.results, f, indent=2)
        print_soak(bench.results["soak"])
        print(f"\n{path}")
        return 0
    bench.preload()
    bench.results["upstream"] = {t: bench.count(t) for t in ["parcels.events", "customs.declarations", "customs.inspections", "access.logs"]}
    if args.profile_only:
        # Only what the stage needs upstream (one exactly_once run of each earlier stage), then the profile.
        for stage in STAGES[:[s["worker"] for s in STAGES].index(args.profile_only)]:
            bench.stage(stage, 0, modes=["exactly_once"])
        bench.profile(args.profile_only, None)
        print(open(bench.results["profile"]["report"]).read())
        return 0
    chosen = [s for s in STAGES if not args.stages or s["worker"] in args.stages.split(",")]
    for rnd in range(0 if args.latency_only else args.rounds):
        for stage in chosen:
            bench.stage(stage, rnd)
            bench.ceiling(stage, rnd)
            if stage["worker"] == "enrichment":
                bench.peer(rnd)
    chosen_latency = args.latency_workers.split(",") if args.latency_workers else Bench.LATENCY_WORKERS + [r[0] for r in Bench.REPLAY_LATENCY]
    for mode in [] if args.no_latency else MODES:
        for worker in Bench.LATENCY_WORKERS:
            if worker in chosen_latency:
                bench.latency(mode, worker)
    if not args.no_latency and args.latency_only and args.replay_latency:
        for stage in STAGES[:[s["worker"] for s in STAGES].index("fraud")]:  # the canonical upstream outputs to replay
            bench.stage(stage, 0, modes=["exactly_once"])
    for mode in MODES if args.replay_latency and not args.no_latency else []:
        for stage_name, *_ in Bench.REPLAY_LATENCY:
            if stage_name in chosen_latency:
                bench.replay_latency(mode, stage_name)
    rows = bench.summarize()
    if args.profile:
        name = args.profile
        if name == "auto":
            worst = min((r for r in rows if r["vs_ceiling"] and r["mode"] == "exactly_once"), key=lambda r: r["vs_ceiling"])
            name = worst["worker"].replace("-worker", "")
        bench.profile(name, None)
    bench.results["total_seconds"] = round(time.monotonic() - started, 1)
    path = args.json or os.path.join(args.state, "workers.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(bench.results, f, indent=2)
    print_table(rows, bench.results["latency"])
    print(f"\n{path} ({bench.results['total_seconds']} s)")
    return 0


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal:")))
    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1), "cpu": model}


if __name__ == "__main__":
    sys.exit(main())
