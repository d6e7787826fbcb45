#!/usr/bin/env python3
"""enrichment_peer: the enrichment-worker's job written the way a platform team would otherwise
write it - one Python process, confluent-kafka (its own bundled librdkafka), the stdlib `json`,
state in a dict. A benchmark peer for the Swift worker, not a replacement (bench/peers/README.md
lists what it leaves out).

    enrichment_peer.py --bootstrap 127.0.0.1:9092 --guarantee exactly_once --expect 100000

Consumes parcels.events and customs.declarations (one consumer group, read_committed, no auto
commit), joins declarations to parcels by parcel_id (either side first), converts money to EUR with
reference/fx-rates.csv, and produces parcels.enriched / customs.enriched. Guarantees:
  at_least_once  idempotent producer; per batch: produce, flush, then commit the consumed offsets
  exactly_once   transactional producer; per batch: produce, send_offsets_to_transaction with the
                 consumer's group metadata, commit_transaction (as librdkafka's
                 examples/transactions.c); abortable errors abort, roll the join state back and
                 rewind to the committed offsets; fatal errors exit non-zero.
With --expect N it stops after N input records were consumed and their outputs are committed, and
prints one JSON line: records, seconds (first record consumed to last commit: group join excluded),
records_per_s, cpu_seconds (whole process, librdkafka's threads included), peak_rss_mib.
"""

import argparse
import calendar
import csv
import datetime
import json
import os
import resource
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

LOW_VALUE_THRESHOLD_EUR = 150.0
JOIN_WINDOW_MS = 48 * 3600 * 1000


# ------------------------------------------------------------------------------ reference data

class Reference:
    """The tables the enrichment uses, from reference/ (the same files the Swift worker loads)."""

    def __init__(self, directory):
        def rows(name):
            with open(os.path.join(directory, name), newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        self.chapters = {r["chapter"]: r["name"] for r in rows("hs-chapters.csv")}
        self.headings = {r["heading"]: r["name"] for r in rows("hs-headings.csv")}
        self.strategic = sorted(rows("hs-strategic.csv"), key=lambda r: -len(r["prefix"]))  # longest prefix first
        self.regions = {r["code"]: r["region"] for r in rows("countries.csv")}
        self.airport_country = {r["iata"]: r["country"] for r in rows("airports.csv")}
        self.fx = {}  # currency -> [(date, eur_per_unit)] sorted by date
        for r in rows("fx-rates.csv"):
            self.fx.setdefault(r["currency"], []).append((r["date"], float(r["eur_per_unit"])))
        for series in self.fx.values():
            series.sort()
        self._fx_cache = {}
        self._hs_cache = {}

    def fx_rate(self, currency, date):
        """(eur_per_unit, rate_date, rule) or None: the customs rate of the month (penultimate
        Wednesday of the previous month) when the table has it, else the latest on or before."""
        key = (currency, date)
        if key in self._fx_cache:
            return self._fx_cache[key]
        result = None
        if currency == "EUR":
            result = (1.0, date, "identity")
        elif self.fx.get(currency):
            series = self.fx[currency]
            customs = penultimate_wednesday_of_previous_month(date)
            hit = next((r for d, r in series if d == customs), None)
            if hit is not None:
                result = (hit, customs, "customs_monthly")
            else:
                before = [(d, r) for d, r in series if d <= date]
                d, r = before[-1] if before else series[0]
                result = (r, d, "latest_available")
        self._fx_cache[key] = result
        return result

    def hs_info(self, hs, unknown):
        if hs is None:
            return {"hs_code": None, "hs_chapter": None, "hs_chapter_name": None, "hs_heading": None,
                    "hs_heading_name": None, "strategic": None}
        info = self._hs_cache.get(hs)
        if info is None:
            chapter, heading = hs[:2], hs[:4]
            flag = next((s for s in self.strategic if hs.startswith(s["prefix"])), None)
            info = {"hs_code": hs, "hs_chapter": chapter, "hs_chapter_name": self.chapters.get(chapter),
                    "hs_heading": heading, "hs_heading_name": self.headings.get(heading),
                    "strategic": {"category": flag["category"], "confidence": flag["confidence"]} if flag else None}
            self._hs_cache[hs] = info
        if info["hs_chapter_name"] is None:
            unknown.append(f"hs:{hs}")
        return dict(info)


def penultimate_wednesday_of_previous_month(date):
    year, month = int(date[0:4]), int(date[5:7]) - 1
    if month == 0:
        year, month = year - 1, 12
    last = calendar.monthrange(year, month)[1]
    last_wednesday = last - (datetime.date(year, month, last).weekday() - 2) % 7
    return f"{year:04d}-{month:02d}-{last_wednesday - 7:02d}"


def eur(amount, currency, date, ref, unknown):
    rate = ref.fx_rate(currency, date)
    if rate is None:
        unknown.append(f"currency:{currency}")
        return None, None
    eur_per_unit, rate_date, rule = rate
    return round(amount * eur_per_unit, 6), {"currency": currency, "eur_per_unit": eur_per_unit,
                                             "rate_date": rate_date, "rule": rule}


def per_kg(value, grams):
    return round(value / (grams / 1000.0), 6) if value is not None and grams and grams > 0 else None


def millis(ts):
    """RFC 3339 (as the upstream writes it: ...Z or an offset) to epoch milliseconds."""
    return int(datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


# ---------------------------------------------------------------------------------- enrichment

def parcel_enrichment(p, declaration, ref):
    unknown = []
    flight = p.get("flight") or {}
    airport = flight.get("origin_airport")
    origin_country = ref.airport_country.get(airport) if airport else None
    if airport and origin_country is None:
        unknown.append(f"airport:{airport}")
    value = p["declared_value"]
    value_eur, fx = eur(value["amount"], value["currency"], p["occurred_at"][:10], ref, unknown)
    country = p["consignee"]["country"]
    region = ref.regions.get(country)
    if region is None:
        unknown.append(f"country:{country}")
    items = [ref.hs_info(i.get("hs_code"), unknown) for i in p.get("items") or []]
    return {
        "schema": "parcel.enrichment/1",
        "origin_airport": airport,
        "origin_country": origin_country,
        "route": f"{airport}-{p['hub']}" if airport else None,
        "declared_value_eur": value_eur,
        "fx": fx,
        "value_per_kg_eur": per_kg(value_eur, p.get("weight_grams")),
        "destination_country": country,
        "destination_region": region or "unknown",
        "items": items,
        "strategic_goods": any(i["strategic"] is not None for i in items),
        "declaration": declaration,
        "unknown": unknown,
    }


def valuation(d, ref):
    unknown, fx_used, lines = [], [], []
    total = 0.0
    date = d["lodged_at"][:10]
    for item in d.get("items") or []:
        hs = ref.hs_info(item.get("hs_code"), unknown)
        value = item["intrinsic_value"]
        unit, fx = eur(value["amount"], value["currency"], date, ref, unknown)
        if unit is None:
            total = None
            lines.append({**hs, "line_value_eur": None, "unit_value_eur": None, "value_per_kg_eur": None})
            continue
        if fx not in fx_used:
            fx_used.append(fx)
        line = round(unit * item["quantity"], 6)
        if total is not None:
            total = round(total + line, 6)
        lines.append({**hs, "line_value_eur": line, "unit_value_eur": unit,
                      "value_per_kg_eur": per_kg(line, item.get("net_mass_grams"))})
    return {
        "schema": "customs.valuation/1",
        "items": lines,
        "total_intrinsic_value_eur": total,
        "low_value_threshold_eur": LOW_VALUE_THRESHOLD_EUR,
        "over_low_value_threshold": None if total is None else total > LOW_VALUE_THRESHOLD_EUR,
        "fx": fx_used,
        "unknown": unknown,
    }


def observation(p, ref):
    airport = (p.get("flight") or {}).get("origin_airport")
    return {"weight_grams": p.get("weight_grams"), "origin_airport": airport,
            "origin_country": ref.airport_country.get(airport) if airport else None,
            "merchant_id": p["merchant"]["id"], "parcel_event_id": p["event_id"], "observed_at": p["occurred_at"],
            "_ms": millis(p["occurred_at"])}


def public(obs):
    return {k: v for k, v in obs.items() if k != "_ms"}


class Enrichment:
    """The join: state per parcel_id in a dict, either side first. `emit(topic, key, value, msg)`
    produces one output. In exactly_once mode a journal of the entries a transaction touched lets
    an aborted transaction roll the state back."""

    def __init__(self, args, ref, emit):
        self.args, self.ref, self.emit = args, ref, emit
        self.state = {}
        self.journal = None  # {parcel_id: state before the open transaction, or None}
        self.counters = {}

    def begin(self):
        self.journal = {}

    def rollback(self):
        for pid, old in self.journal.items():
            if old is None:
                self.state.pop(pid, None)
            else:
                self.state[pid] = old
        self.journal = {}

    def entry(self, pid):
        s = self.state.get(pid)
        if self.journal is not None and pid not in self.journal:
            self.journal[pid] = None if s is None else {
                "events": set(s["events"]), "declarations": dict(s["declarations"]),
                "observation": s["observation"], "summary": s["summary"], "pending": list(s["pending"])}
        if s is None:
            s = self.state[pid] = {"events": set(), "declarations": {}, "observation": None, "summary": None, "pending": []}
        return s

    def count(self, name):
        self.counters[name] = self.counters.get(name, 0) + 1

    def handle(self, msg):
        value = json.loads(msg.value())
        if msg.topic() == self.args.input_declarations:
            self.declaration(value, msg)
        else:
            self.parcel(value, msg)

    def parcel(self, p, msg):
        s = self.entry(p["parcel_id"])
        if p["event_id"] in s["events"]:
            self.count("duplicate_parcel_event")
            return
        s["events"].add(p["event_id"])
        obs = observation(p, self.ref)
        if s["observation"] is None or obs["_ms"] >= s["observation"]["_ms"]:
            s["observation"] = obs
        p["source"] = source(msg)
        p["enrichment"] = parcel_enrichment(p, s["summary"], self.ref)
        self.emit(self.args.output_parcels, p["parcel_id"], p, msg)
        still = []
        for d, src, lodged_ms, val in s["pending"]:
            if abs(lodged_ms - s["observation"]["_ms"]) <= JOIN_WINDOW_MS:
                self.emit_declaration(d, src, val, s["observation"], msg)
            else:
                still.append((d, src, lodged_ms, val))
        s["pending"] = still

    def declaration(self, d, msg):
        s = self.entry(d["parcel_id"])
        fingerprint = hash(msg.value())
        if s["declarations"].get(d["declaration_id"]) == fingerprint:
            self.count("duplicate_declaration")
            return
        s["declarations"][d["declaration_id"]] = fingerprint
        val = valuation(d, self.ref)
        s["summary"] = {"declaration_id": d["declaration_id"], "lodged_at": d["lodged_at"], "regime": d["regime"],
                        "total_intrinsic_value_eur": val["total_intrinsic_value_eur"],
                        "over_low_value_threshold": val["over_low_value_threshold"]}
        lodged_ms = millis(d["lodged_at"])
        obs = s["observation"]
        if obs is not None and abs(lodged_ms - obs["_ms"]) <= JOIN_WINDOW_MS:
            self.emit_declaration(d, source(msg), val, obs, msg)
        else:
            s["pending"] = [x for x in s["pending"] if x[0]["declaration_id"] != d["declaration_id"]]
            s["pending"].append((d, source(msg), lodged_ms, val))

    def emit_declaration(self, d, src, val, obs, msg):
        out = dict(d)
        out["source"] = src
        out["valuation"] = val
        out["hub_observation"] = public(obs)
        out["hub_observation_reason"] = None
        self.emit(self.args.output_declarations, d["declaration_id"], out, msg)


def source(msg):
    return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}


# ------------------------------------------------------------------------------------ the loop

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"))
    ap.add_argument("--input-parcels", default="parcels.events")
    ap.add_argument("--input-declarations", default="customs.declarations")
    ap.add_argument("--output-parcels", default="parcels.enriched")
    ap.add_argument("--output-declarations", default="customs.enriched")
    ap.add_argument("--group", default="enrichment-peer")
    ap.add_argument("--guarantee", choices=["at_least_once", "exactly_once"], default="exactly_once")
    ap.add_argument("--expect", type=int, default=0, help="stop after N input records (0: run until SIGINT)")
    ap.add_argument("--batch", type=int, default=5000, help="most records per consume() and per commit")
    ap.add_argument("--reference", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
    args = ap.parse_args()

    ref = Reference(args.reference)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # The local broker (Tansu) needs these or a group join takes ~23 s; harmless elsewhere.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    exactly_once = args.guarantee == "exactly_once"
    producer_config = {
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "linger.ms": 5,
        "partitioner": "murmur2_random",  # as the fleet (and Java clients) partition
    }
    if exactly_once:
        producer_config["transactional.id"] = f"{args.group}-peer"
    producer = Producer(producer_config)
    delivery_errors = []

    def on_delivery(err, _msg):
        if err is not None:
            delivery_errors.append(err)

    def emit(topic, key, value, msg):
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        headers = [("cw.source.topic", msg.topic()), ("cw.source.partition", str(msg.partition())),
                   ("cw.source.offset", str(msg.offset()))]
        while True:
            try:
                producer.produce(topic, value=data, key=key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:  # librdkafka's queue is full: serve delivery reports, then retry
                producer.poll(0.05)

    enrichment = Enrichment(args, ref, emit)
    if exactly_once:
        producer.init_transactions()
        producer.begin_transaction()
        enrichment.begin()
    consumer.subscribe([args.input_parcels, args.input_declarations])

    consumed, first_at = 0, None
    try:
        while args.expect == 0 or consumed < args.expect:
            want = min(args.batch, args.expect - consumed) if args.expect else args.batch
            msgs = consumer.consume(num_messages=want, timeout=0.05)
            records = []
            for m in msgs:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                records.append(m)
            if not records:
                producer.poll(0)
                continue
            if first_at is None:
                first_at = time.monotonic()
            for m in records:
                enrichment.handle(m)
            if exactly_once:
                try:
                    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                         consumer.consumer_group_metadata())
                    producer.commit_transaction()
                except KafkaException as exc:
                    error = exc.args[0]
                    if error.txn_requires_abort():
                        producer.abort_transaction()
                        enrichment.rollback()
                        rewind(consumer)
                        producer.begin_transaction()
                        enrichment.begin()
                        continue
                    raise  # fatal (fenced) or not retriable: exit non-zero, restart
                producer.begin_transaction()
                enrichment.begin()
            else:
                producer.flush()
                if delivery_errors:
                    raise KafkaException(delivery_errors[0])
                consumer.commit(asynchronous=False)
            consumed += len(records)
    finally:
        elapsed = time.monotonic() - first_at if first_at is not None else 0.0
        if exactly_once:
            try:
                producer.abort_transaction(5)  # the empty transaction opened after the last commit
            except KafkaException:
                pass
        consumer.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "peer": "python-confluent-kafka", "guarantee": args.guarantee, "records": consumed,
        "seconds": round(elapsed, 3), "records_per_s": round(consumed / elapsed) if elapsed else None,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "counters": enrichment.counters,
    }))
    return 0


def rewind(consumer):
    """After an abort: back to the group's committed offsets (the aborted batch is read again)."""
    committed = consumer.committed(consumer.assignment(), timeout=10)
    for tp in committed:
        if tp.offset < 0:
            tp = TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING)  # nothing committed yet
        consumer.seek(tp)


if __name__ == "__main__":
    sys.exit(main())
