#!/usr/bin/env python3
"""fraud_ranking.py: study the fraud-worker's ranking offline, from a dump of QualityTests.

    CARGOWATCH_QUALITY_SEED=42 CARGOWATCH_QUALITY_PARTITIONS=3 CARGOWATCH_QUALITY_DECLARATIONS=100000 \
    CARGOWATCH_QUALITY_DUMP=/tmp/ranking.jsonl swift test --filter FraudTests.QualityTests
    bench/fraud_ranking.py /tmp/ranking.jsonl [stake.tilt, default 0.82]

The dump has each declaration's last customs.risk record and its truth (pattern, evaded EUR). This
prints the bars for the score as it is, the same ranking re-weighed as p * (tax + L) for several L
(the stake tilt, without re-running the scorer: p = score / stake factor), and per combination of
reason codes how often the scorer's p is right and how its tax at risk compares with the evaded
revenue of the frauds. That table is how the session-6 changes were found (README, "Quality").
Only the standard library; the policy's stake (saturation 200 EUR) is assumed.
"""
import collections
import json
import sys

SATURATION = 200.0


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            r = o["risk"]
            reasons = r["reasons"]
            own = [x["tax_at_risk_eur"] for x in reasons if x["code"] != "SELLER_HISTORY"]
            tax = max(own or [x["tax_at_risk_eur"] for x in reasons] or [0])
            rows.append(dict(score=r["score"], tax=tax, codes=tuple(sorted(x["code"] for x in reasons)),
                             fraud=o["pattern"] is not None, evaded=o["evaded_eur"]))
    return rows


def bars(rows, key, name):
    n = len(rows)
    ranked = sorted(rows, key=key, reverse=True)
    frauds = sum(x["fraud"] for x in rows)
    total = sum(x["evaded"] for x in rows) or 1
    top01, top1, top10 = ranked[: n // 1000], ranked[: n // 100], ranked[: n // 10]
    print(f"{name:28s} precision@0.1% {sum(x['fraud'] for x in top01) / len(top01):.3f}  "
          f"precision@1% {sum(x['fraud'] for x in top1) / len(top1):.3f}  "
          f"revenue@1% {sum(x['evaded'] for x in top1) / total:.3f}  recall@10% {sum(x['fraud'] for x in top10) / frauds:.3f}")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    tilt = float(sys.argv[2]) if len(sys.argv) == 3 else 0.82  # stake.tilt of the policy the dump was made with
    for x in rows:
        factor = (1 - tilt) + tilt * min(1.0, x["tax"] / SATURATION)
        x["p"] = x["score"] / factor if x["codes"] else 0.0
    oracle = sorted((x["evaded"] for x in rows), reverse=True)[: len(rows) // 100]
    print(f"{len(rows)} declarations; best possible revenue@1%: {sum(oracle) / (sum(x['evaded'] for x in rows) or 1):.3f}")
    bars(rows, lambda x: x["score"], "score (as emitted)")
    for extra in (20, 35, 44, 50, 80):
        bars(rows, lambda x, L=extra: x["p"] * (min(SATURATION, x["tax"]) + L), f"p * (tax + {extra} EUR)")
    print("\ncombination of reasons             n   mean p  fraud rate  EUR evaded / tax at risk (frauds)")
    groups = collections.defaultdict(list)
    for x in rows:
        if x["codes"]:
            groups[x["codes"]].append(x)
    for codes, xs in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:20]:
        fr = [x for x in xs if x["fraud"]]
        print(f"{'+'.join(c[:12] for c in codes):34s} {len(xs):6d}  {sum(x['p'] for x in xs) / len(xs):.3f}   {len(fr) / len(xs):.3f}"
              f"      {sum(x['evaded'] for x in fr) / max(1, len(fr)):7.1f} / {sum(x['tax'] for x in fr) / max(1, len(fr)):.1f}")


if __name__ == "__main__":
    main()
