#!/usr/bin/env python3
"""Checks of the deployment files that need no container engine and no cluster.

Run by ops/validate-deploy (which installs the tools into .venv/ first):

    ops/deploy_checks.py [--print-metric-names] [--bin-dir DIR] [--kubernetes-version 1.30]

What it checks, each against the repository's own sources of truth:
  compose/     services, dependencies, env names (docs/configuration.md), scrape targets, mounts,
               the Kafka node's KRaft/transaction settings
  prometheus   prometheus.yml and alerts.yml: structure, every expression parses (promql-parser);
               with promtool (--promtool): `promtool check config` and the rule unit tests
               (compose/prometheus/*.test.yml)
  grafana      provisioning, dashboard JSON, every query parses
  metrics      every metric name used by the dashboard and the alert rules is one the runtime
               exports (Sources/WorkerRuntime/RuntimeMetrics.swift), with the labels it has;
               helpers never called warn
  ops/k8s/     the base and every overlay rendered by a small kustomize subset implemented here
               (resources, namespace, images, strategic-merge patches incl. $patch: delete);
               compared with `kubectl kustomize` / `kustomize build` when one is installed;
               built-in kinds validated with kubernetes-validate (strict); KEDA kinds with the
               models generated from KEDA's CRDs (cloudcoil-models-keda) plus an unknown-field
               check; references (ConfigMaps, Secrets, selectors, scale target, topics, consumer
               groups, partition cap); placeholder-only secrets; pod hardening
  Dockerfile   agrees with the entrypoint, the image paths and the manifests' user id
  programs     with built binaries (--bin-dir, default .build/release or .build/debug): each
               worker's compose and Kubernetes environment (and config file) through
               `--print-config`, and their KAFKA_* properties through librdkafka
               (`cargowatch generate --count 0` creates a producer and exits).

Prints one line per problem and a summary; exits 1 if there was a problem.
"""

import argparse
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "compose"
K8S_DIR = ROOT / "ops" / "k8s"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "StorageClass", "PersistentVolume", "ClusterTriggerAuthentication"}
PROMETHEUS_BUILTIN_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
SEVERITIES = {"critical", "warning", "info"}


# ----------------------------------------------------------------------------------------- report

class Report:
    def __init__(self):
        self.problems = 0
        self.warnings = 0

    def problem(self, where, message):
        self.problems += 1
        print(f"  problem: {where}: {message}")

    def warn(self, where, message):
        self.warnings += 1
        print(f"  warning: {where}: {message}")

    def ok(self, message):
        print(f"  ok: {message}")

    def section(self, title):
        print(f"== {title}")


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_yaml(path, report):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        report.problem(rel(path), f"cannot read YAML: {exc}")
        return None


def load_yaml_docs(path, report):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        report.problem(rel(path), f"cannot read YAML: {exc}")
        return []


# ------------------------------------------------------------------------- the repository's facts

def configuration_table(report):
    """docs/configuration.md (generated from the settings in code): {section: {env name: key}}."""
    path = ROOT / "docs" / "configuration.md"
    sections, current = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = {}
            continue
        m = re.match(r"^\| `([^`]+)` \| `([^`]+)` \|", line)
        if m and current:
            sections[current][m.group(2)] = m.group(1)
    if "Every worker" not in sections:
        report.problem(rel(path), "no 'Every worker' table found")
    return sections


# Workers that are being written and are not in docs/configuration.md yet (the table is generated
# from the settings in code, so a worker appears there once it is built): the variables their
# deployment files may set beyond the common ones. These are announced, not verified: each use is
# reported as a warning, and the entry is ignored (with a warning) once the worker is documented.
PENDING_WORKERS: dict[str, dict[str, str]] = {}


def worker_settings(table, worker, report=None, where=None):
    """Environment name -> key of every setting `worker` reads (None if the worker is unknown).
    A worker of PENDING_WORKERS not yet documented gets the common settings plus its announced ones."""
    if worker in table:
        if worker in PENDING_WORKERS and report is not None:
            report.warn("ops/deploy_checks.py", f"{worker} is documented now: remove it from PENDING_WORKERS")
        return {**table.get("Every worker", {}), **table[worker]}
    if worker in PENDING_WORKERS:
        if report is not None:
            report.warn(where or worker, f"{worker} is not in docs/configuration.md yet (generated from the settings in code): only its common "
                        "settings are verified" + (f"; {', '.join(sorted(PENDING_WORKERS[worker]))} announced, not verified"
                                                   if PENDING_WORKERS[worker] else ""))
        return {**table.get("Every worker", {}), **PENDING_WORKERS[worker]}
    return None


def topic_catalogue(report):
    """docs/topics.md (generated from Sources/Catalogue): {topic: partitions}."""
    path = ROOT / "docs" / "topics.md"
    topics = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[0].startswith("`") and cells[6].isdigit():
            topics[cells[0].strip("`")] = int(cells[6])
    if not topics:
        report.problem(rel(path), "no topics found in the table")
    return topics


def entrypoint_programs(report):
    """The programs ops/container/entrypoint.sh accepts (its first case pattern)."""
    path = ROOT / "ops" / "container" / "entrypoint.sh"
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*([a-z][\w-]*(?:\s*\|\s*[a-z][\w-]*)*)\)\s*;;\s*$", line)
        if m:
            return {p.strip() for p in m.group(1).split("|")}
    report.problem(rel(path), "cannot find the case pattern of accepted programs")
    return set()


def exported_metrics(report):
    """Metric names RuntimeMetrics.swift exports, their labels, and the helper recording each.

    Returns ({series name: base metric}, {base metric: helper or property}, {series name: labels})."""
    path = ROOT / "Sources" / "WorkerRuntime" / "RuntimeMetrics.swift"
    text = path.read_text(encoding="utf-8")
    series, recorders, labels = {}, {}, {}
    for m in re.finditer(r"func (\w+)\([^)]*\)\s*\{\s*(counter|gauge)\(\"(cargowatch_\w+)\",\s*\[(.*?)\]\)", text):
        helper, _, name, dims = m.groups()
        series[name] = name
        recorders[name] = helper
        labels[name] = {"worker"} | set(re.findall(r'\("(\w+)",', dims))
    for m in re.finditer(r"(\w+)\s*=\s*Metrics\.Timer\(label:\s*\"(cargowatch_\w+)\"", text):
        prop, name = m.groups()
        for suffix in ("_bucket", "_sum", "_count"):
            series[name + suffix] = name
            labels[name + suffix] = {"worker", "le"} if suffix == "_bucket" else {"worker"}
        recorders[name] = prop
    if not series:
        report.problem(rel(path), "no metric declarations found (has the file changed shape?)")
    return series, recorders, labels


def metric_recorded(helper):
    """Is RuntimeMetrics.<helper> used anywhere outside RuntimeMetrics.swift?"""
    pattern = re.compile(r"\.\s*" + re.escape(helper) + r"\b")
    for path in (ROOT / "Sources").rglob("*.swift"):
        if path.name == "RuntimeMetrics.swift":
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            return True
    return False


def flatten_config(node, prefix=""):
    """A worker's YAML config file as dotted keys (the loader's rule; `kafka:` keeps its names)."""
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if key == "kafka" and isinstance(v, dict):
                for prop, value in v.items():
                    out[f"kafka.{prop}"] = value
            else:
                out.update(flatten_config(v, key))
    else:
        out[prefix] = node
    return out


# ---------------------------------------------------------------------------------------- PromQL

_GRAFANA_INTERVALS = re.compile(r"\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?")
_GRAFANA_VARS = re.compile(r"\$\{[^}]+\}|\$\w+|\[\[\w+\]\]")


TARGET_LABELS = {"job", "instance", "__name__"}
# Values of the `event` label (cargowatch_handler_events_total) the dashboard and the rules select:
# {where: {value}}; filled by promql_names, checked against the handlers by check_handler_events.
EVENT_VALUES = {}


def matcher_values(op, value):
    """The label values an = or =~ matcher selects, when they can be listed: `a`, `a|b`, `p_(a|b)`."""
    if op == "MatchOp.Equal":
        return {value}
    if op == "MatchOp.Re":
        if re.fullmatch(r"[\w|]+", value):
            return set(value.split("|"))
        m = re.fullmatch(r"(\w*)\(([\w|]+)\)(\w*)", value)
        if m:
            return {m.group(1) + v + m.group(3) for v in m.group(2).split("|")}
    return None


def promql_names(expr, where, report, grafana=False, labels=None):
    """Metric names the expression selects; a parse error is a problem. With `labels` ({series:
    label names}), label matchers and `by (...)` groupings over exported metrics must use labels
    those metrics have (plus Prometheus' job and instance)."""
    import promql_parser
    text = expr
    if grafana:
        text = _GRAFANA_INTERVALS.sub("5m", text)
        text = _GRAFANA_VARS.sub("grafana_variable", text)
    try:
        ast = promql_parser.parse(text)
    except Exception as exc:  # the parser raises ValueError with the position
        report.problem(where, f"PromQL does not parse: {exc}: {expr!r}")
        return set()
    names = set()
    labels = labels or {}

    def selectors(node):
        found = []
        promql_parser.walk(node, lambda n: found.append(n) if isinstance(n, promql_parser.VectorSelector) else True)
        return found

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            if not node.name:
                report.problem(where, f"selector without a metric name: {node}")
                return True
            names.add(node.name)
            for m in node.matchers.matchers:
                if node.name == "cargowatch_handler_events_total" and m.name == "event":
                    values = matcher_values(str(m.op), m.value)
                    if values is None:
                        report.problem(where, f"event matcher {m.value!r}: list the events (a|b or prefix_(a|b)) so they can be checked")
                    else:
                        EVENT_VALUES.setdefault(where, set()).update(values)
            if node.name in labels:
                for m in node.matchers.matchers:
                    if m.name not in labels[node.name] | TARGET_LABELS:
                        report.problem(where, f"{node.name} has no label {m.name!r} (it has {', '.join(sorted(labels[node.name]))})")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None \
                and node.modifier.type == promql_parser.AggModifierType.By:
            inner = [n.name for n in selectors(node.expr)]
            if inner and all(n in labels for n in inner):
                have = set().union(*(labels[n] for n in inner)) | TARGET_LABELS
                for label in node.modifier.labels:
                    if label not in have:
                        report.problem(where, f"by ({label}): {', '.join(sorted(set(inner)))} has no label {label!r}")
        return True

    promql_parser.walk(ast, visit)
    return names


# --------------------------------------------------------------------------------------- compose

def compose_services(report):
    base = load_yaml(COMPOSE_DIR / "docker-compose.yml", report) or {}
    scale = load_yaml(COMPOSE_DIR / "docker-compose.scale.yml", report) or {}
    merged = copy.deepcopy(base)
    for name, svc in (scale.get("services") or {}).items():
        if name not in merged.get("services", {}):
            report.problem("compose/docker-compose.scale.yml", f"service {name} is not in docker-compose.yml")
            continue
        merged["services"][name] = deep_merge(merged["services"][name], svc)
    return base, merged


def deep_merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = deep_merge(a[k], v) if k in a else v
        return out
    return b


_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value):
    """A compose value as compose resolves it when the variable is not set on the host:
    ${VAR:-default} / ${VAR-default} -> default, ${VAR} -> "" (what the checks then see)."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def env_dict(environment):
    if isinstance(environment, list):
        return dict(interpolate(item).split("=", 1) if "=" in item else (item, "") for item in environment)
    return {k: "" if v is None else interpolate(str(v)) for k, v in (environment or {}).items()}


def check_compose(report, table, programs, facts):
    report.section("compose (semantics; the schema check ran before)")
    base, merged = compose_services(report)
    services = merged.get("services") or {}
    where = "compose/docker-compose.yml"
    cargowatch_image = None
    workers = {}
    for name, svc in services.items():
        for dep in (svc.get("depends_on") or {}):
            if dep not in services:
                report.problem(where, f"{name} depends on unknown service {dep}")
        image = str(svc.get("image", ""))
        command = svc.get("command") or []
        if "cargowatch" in image and not image.startswith(("apache/", "prom/", "grafana/")):
            cargowatch_image = cargowatch_image or image
            if image != cargowatch_image:
                report.problem(where, f"{name} uses image {image}, others {cargowatch_image}")
            if not isinstance(command, list) or not command:
                report.problem(where, f"{name}: command must be a list whose first word is a program")
                continue
            if command[0] not in programs:
                report.problem(where, f"{name}: program {command[0]!r} is not one the entrypoint accepts ({', '.join(sorted(programs))})")
            env = env_dict(svc.get("environment"))
            settings = worker_settings(table, command[0], report, f"{where}: {name}") if command[0].endswith("-worker") else None
            for var in env:
                if var.startswith("CARGOWATCH_"):
                    if settings is None:
                        report.problem(where, f"{name}: {var}: {command[0]} reads no CARGOWATCH_* settings")
                    elif var not in settings:
                        report.problem(where, f"{name}: {var} is not a setting of {command[0]} (docs/configuration.md); the worker would exit 78")
            if "KAFKA_BOOTSTRAP_SERVERS" not in env:
                report.problem(where, f"{name}: no KAFKA_BOOTSTRAP_SERVERS (default localhost:9092 is not the broker)")
            if command[0].endswith("-worker"):
                workers[name] = (command[0], env, svc)
                facts.setdefault("compose_envs", []).append((f"compose service {name}", command[0], env, None))
            elif command[0] == "cargowatch":
                facts.setdefault("compose_envs", []).append((f"compose service {name}", "cargowatch", env, None))
    # Kafka: one KRaft node that the workers' transactions can use.
    kafka = services.get("kafka")
    if not kafka:
        report.problem(where, "no kafka service")
    else:
        kenv = env_dict(kafka.get("environment"))
        cid = kenv.get("CLUSTER_ID", "")
        try:
            ok = len(base64.urlsafe_b64decode(cid + "==")) == 16 and len(cid) == 22
        except (ValueError, TypeError):
            ok = False
        if not ok:
            report.problem(where, f"kafka: CLUSTER_ID {cid!r} is not 16 bytes in base64url (22 characters)")
        for var in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
            if kenv.get(var) != "1":
                report.problem(where, f"kafka: {var} must be 1 on a one-node cluster (the workers are transactional)")
        advertised = kenv.get("KAFKA_ADVERTISED_LISTENERS", "")
        for name, (_, env, _) in workers.items():
            for server in env.get("KAFKA_BOOTSTRAP_SERVERS", "").split(","):
                if server and f"//{server}" not in advertised:
                    report.problem(where, f"{name}: bootstrap {server} is not an advertised listener of kafka ({advertised})")
        if "healthcheck" not in kafka:
            report.problem(where, "kafka has no healthcheck (the topics service waits for it)")
    # Workers: a port, a health check on it, no fixed name or host port when scaled.
    scrape = facts.get("prometheus_scrape", {})
    for name, (program, env, svc) in workers.items():
        port = env.get("CARGOWATCH_HTTP_PORT")
        if not port:
            report.problem(where, f"{name}: set CARGOWATCH_HTTP_PORT (the image's HEALTHCHECK and Prometheus use it)")
            continue
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test", [])))
        if f":{port}/healthz" not in test:
            report.problem(where, f"{name}: healthcheck does not probe /healthz on port {port}: {test!r}")
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        if replicas > 1:
            if "container_name" in svc:
                report.problem(where, f"{name}: container_name with {replicas} replicas")
            for p in svc.get("ports") or []:
                if ":" in str(p if not isinstance(p, dict) else p.get("published", "")):
                    report.problem(where, f"{name}: fixed host port {p} with {replicas} replicas")
        if scrape.get(name) != int(port):
            report.problem("compose/prometheus/prometheus.yml", f"no dns_sd scrape of {name} on port {port}")
        if (svc.get("stop_grace_period") or "10s") in ("10s",):
            report.warn(where, f"{name}: stop_grace_period is Docker's default 10s, below shutdown.deadline (30s)")
    # Bind mounts exist.
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith("."):
                if not (COMPOSE_DIR / source).exists():
                    report.problem(where, f"{name}: mounted path {source} does not exist")
    build = (services.get("topics") or {}).get("build") or {}
    if build and not (COMPOSE_DIR / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file():
        report.problem(where, "topics: build context/Dockerfile not found")
    report.ok(f"{len(services)} services, {len(workers)} worker(s): " + ", ".join(
        f"{n}×{(s.get('deploy') or {}).get('replicas', 1)}" for n, (_, _, s) in workers.items()) + " with the scale file")
    facts["compose"] = merged


def mounts_of(service):
    """{container path: host path} of a compose service's bind mounts."""
    out = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, str) and ":" in vol:
            parts = vol.split(":")
            out[parts[1]] = (COMPOSE_DIR / parts[0]).resolve()
    return out


def host_path(mounts, container_path):
    for target, source in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / os.path.relpath(container_path, target)
    return None


# ---------------------------------------------------------------------------- prometheus, grafana

def check_prometheus(report, used, facts):
    report.section("prometheus (scrape config, alert rules)")
    compose = load_yaml(COMPOSE_DIR / "docker-compose.yml", report) or {}
    prom_svc = (compose.get("services") or {}).get("prometheus") or {}
    mounts = mounts_of(prom_svc)
    config_path = COMPOSE_DIR / "prometheus" / "prometheus.yml"
    config = load_yaml(config_path, report) or {}
    where = rel(config_path)
    scrape = {}
    for job in config.get("scrape_configs") or []:
        if "job_name" not in job:
            report.problem(where, "a scrape config without job_name")
        for sd in job.get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                scrape[name] = sd.get("port")
    facts["prometheus_scrape"] = scrape
    rules_total = 0
    for rule_file in config.get("rule_files") or []:
        path = host_path(mounts, rule_file)
        if path is None or not path.is_file():
            report.problem(where, f"rule file {rule_file} is not in a mounted directory of the prometheus service")
            continue
        rules = load_yaml(path, report) or {}
        seen = set()
        for group in rules.get("groups") or []:
            for rule in group.get("rules") or []:
                rules_total += 1
                name = rule.get("alert") or rule.get("record")
                rwhere = f"{rel(path)}: {name}"
                if not name:
                    report.problem(rel(path), "a rule without alert or record name")
                    continue
                if name in seen:
                    report.problem(rwhere, "duplicate rule name")
                seen.add(name)
                if "expr" not in rule:
                    report.problem(rwhere, "no expr")
                    continue
                used.setdefault(rwhere, set()).update(promql_names(str(rule["expr"]), rwhere, report, labels=facts.get("metric_labels")))
                if "alert" in rule:
                    if rule.get("labels", {}).get("severity") not in SEVERITIES:
                        report.problem(rwhere, f"labels.severity must be one of {sorted(SEVERITIES)}")
                    if "summary" not in (rule.get("annotations") or {}):
                        report.problem(rwhere, "no annotations.summary")
                    if "for" in rule and not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(rule["for"])):
                        report.problem(rwhere, f"for: {rule['for']!r} is not a Prometheus duration")
                unknown = set(rule) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
                if unknown:
                    report.problem(rwhere, f"unknown rule fields {sorted(unknown)}")
    report.ok(f"{len(config.get('scrape_configs') or [])} scrape jobs, {rules_total} rules parsed")
    promtool = facts.get("promtool")
    if not promtool:
        report.warn(where, "promtool not available: configuration and rules were checked here, not by Prometheus itself")
        return
    # promtool check config: the config as Prometheus will read it, with the mounted paths mapped.
    with tempfile.TemporaryDirectory() as tmp:
        cfg = copy.deepcopy(config)
        cfg["rule_files"] = [str(host_path(mounts, f)) for f in config.get("rule_files") or []]
        (Path(tmp) / "prometheus.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        r = subprocess.run([promtool, "check", "config", str(Path(tmp) / "prometheus.yml")], capture_output=True, text=True)
    if r.returncode != 0:
        report.problem(where, "promtool check config: " + " ".join((r.stdout + r.stderr).split())[:600])
    else:
        report.ok(f"promtool check config (and its {len(cfg['rule_files'])} rule file(s))")
    for test in sorted(config_path.parent.glob("*.test.yml")):
        r = subprocess.run([promtool, "test", "rules", test.name], capture_output=True, text=True, cwd=test.parent)
        if r.returncode != 0:
            report.problem(rel(test), "promtool test rules: " + (r.stdout + r.stderr).strip()[:1500])
        else:
            report.ok(f"promtool test rules {rel(test)}")


def check_grafana(report, used, facts):
    report.section("grafana (provisioning, dashboard)")
    compose = load_yaml(COMPOSE_DIR / "docker-compose.yml", report) or {}
    services = compose.get("services") or {}
    mounts = mounts_of(services.get("grafana") or {})
    uids = set()
    ds_dir = host_path(mounts, "/etc/grafana/provisioning/datasources")
    for path in sorted(ds_dir.glob("*.y*ml")) if ds_dir else []:
        for ds in (load_yaml(path, report) or {}).get("datasources") or []:
            uids.add(ds.get("uid"))
            host = re.sub(r"^https?://", "", str(ds.get("url", ""))).split(":")[0]
            if host not in services:
                report.problem(rel(path), f"datasource {ds.get('name')}: {ds.get('url')} is not a compose service")
    if not uids:
        report.problem("compose/grafana", "no provisioned datasource")
    dash_dir = host_path(mounts, "/etc/grafana/provisioning/dashboards")
    dashboards = []
    for path in sorted(dash_dir.glob("*.y*ml")) if dash_dir else []:
        for provider in (load_yaml(path, report) or {}).get("providers") or []:
            target = host_path(mounts, (provider.get("options") or {}).get("path", ""))
            if target is None or not target.is_dir():
                report.problem(rel(path), f"provider {provider.get('name')}: its path is not a mounted directory")
            else:
                dashboards += sorted(target.glob("*.json"))
    if not dashboards:
        report.problem("compose/grafana", "no dashboard JSON found through the provisioning")
    for path in dashboards:
        try:
            dash = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report.problem(rel(path), f"not valid JSON: {exc}")
            continue
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in dash:
                report.problem(rel(path), f"no {key}")
        ids = [p.get("id") for p in dash.get("panels", [])]
        if len(ids) != len(set(ids)):
            report.problem(rel(path), "panel ids are not unique")
        queries = 0
        for var in (dash.get("templating") or {}).get("list", []):
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((\w+)\s*,\s*\w+\)\s*", str(q or ""))
            if m:
                used.setdefault(f"{rel(path)}: variable {var.get('name')}", set()).add(m.group(1))
            elif q:
                report.problem(rel(path), f"variable {var.get('name')}: unsupported query {q!r}")
        for panel in dash.get("panels", []):
            if panel.get("type") == "row":
                continue
            pwhere = f"{rel(path)}: panel {panel.get('title')!r}"
            if (panel.get("datasource") or {}).get("uid") not in uids:
                report.problem(pwhere, f"datasource uid {(panel.get('datasource') or {}).get('uid')} is not provisioned")
            gp = panel.get("gridPos") or {}
            if not all(k in gp for k in ("h", "w", "x", "y")) or gp.get("x", 0) + gp.get("w", 0) > 24:
                report.problem(pwhere, f"bad gridPos {gp}")
            if not panel.get("targets"):
                report.problem(pwhere, "no queries")
            for target in panel.get("targets", []):
                queries += 1
                used.setdefault(pwhere, set()).update(promql_names(target.get("expr", ""), pwhere, report, grafana=True,
                                                                  labels=facts.get("metric_labels")))
        report.ok(f"{rel(path)}: {len(ids)} panels, {queries} queries parsed")


def check_metric_names(report, used):
    report.section("metric names (dashboard and alerts vs Sources/WorkerRuntime/RuntimeMetrics.swift)")
    series, recorders, _ = exported_metrics(report)
    for where, names in sorted(used.items()):
        for name in sorted(names):
            if name in PROMETHEUS_BUILTIN_METRICS:
                continue
            if name not in series:
                report.problem(where, f"{name} is not a metric the workers export ({', '.join(sorted(recorders))})")
    all_used = set().union(*used.values()) if used else set()
    for name in sorted({series[n] for n in all_used if n in series}):
        helper = recorders.get(name)
        if helper and not metric_recorded(helper):
            report.warn("Sources/WorkerRuntime", f"{name} is declared (RuntimeMetrics.{helper}) but never recorded: "
                        "the series stays absent and rules on it cannot fire until the runtime records it")
    report.ok(f"{len(all_used)} distinct metric names used, all exported" if report.problems == 0 else "checked")
    return all_used


def check_handler_events(report):
    """Every event value the dashboard and the rules select is counted by some handler in Sources/:
    as a string literal ("band_high"), or as a literal prefix plus a name the sources spell out
    ("alert_" + rule, with BULK_EXPORT in the sources). Otherwise the panel or rule stays empty;
    that is a warning, not a problem, while the worker that counts it is still being written."""
    report.section("handler events (dashboard and alerts vs the handlers' counters in Sources/)")
    texts = [path.read_text(encoding="utf-8") for path in (ROOT / "Sources").rglob("*.swift")]
    literals = set()
    prefixes = set()
    for text in texts:
        literals.update(re.findall(r'"(\w+)"', text))
        prefixes.update(re.findall(r'"(\w+_)"\s*\+', text))
        prefixes.update(re.findall(r'"(\w+_)\\\(', text))
    words = set().union(*(set(re.findall(r"\b\w+\b", t)) for t in texts)) if texts else set()
    missing = {}
    for where, values in EVENT_VALUES.items():
        for v in values:
            counted = v in literals or any(v.startswith(p) and v[len(p):] in words for p in prefixes)
            if not counted:
                missing.setdefault(v, set()).add(where.split(": ")[0])
    for v in sorted(missing):
        report.warn(", ".join(sorted(missing[v])), f"event {v!r} is counted by no handler in Sources/ yet: "
                    "its panels and rules stay empty until the worker that counts it is built")
    total = len(set().union(*EVENT_VALUES.values())) if EVENT_VALUES else 0
    report.ok(f"{total} event values selected, {total - len(missing)} counted by a handler in Sources/")


# ------------------------------------------------------------------------------ kustomize subset

MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name"}
SUPPORTED_KUSTOMIZATION = {"apiVersion", "kind", "resources", "namespace", "patches", "images"}


def strip_directives(node):
    if isinstance(node, dict):
        return {k: strip_directives(v) for k, v in node.items() if not k.startswith("$")}
    if isinstance(node, list):
        return [strip_directives(v) for v in node]
    return node


def smp(original, patch):
    """Strategic merge patch, the subset the overlays use (kustomize semantics)."""
    if not (isinstance(original, dict) and isinstance(patch, dict)):
        return strip_directives(patch)
    if patch.get("$patch") == "replace":
        return strip_directives(patch)
    out = dict(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif key in out and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = smp(out[key], value)
        elif key in out and isinstance(out[key], list) and isinstance(value, list) and key in MERGE_KEYS:
            mk = MERGE_KEYS[key]
            merged, added = list(out[key]), []
            for item in value:
                idx = next((i for i, o in enumerate(merged) if isinstance(o, dict) and o.get(mk) == item.get(mk)), None)
                if item.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is not None:
                    merged[idx] = smp(merged[idx], item)
                else:
                    added.append(strip_directives(item))
            out[key] = added + merged  # kustomize puts items new to the list first
        else:
            out[key] = strip_directives(value)
    return out


def res_id(r):
    md = r.get("metadata") or {}
    return (r.get("apiVersion"), r.get("kind"), md.get("namespace"), md.get("name"))


def pod_specs(r):
    spec = r.get("spec") or {}
    if r.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        yield (spec.get("template") or {}).get("spec") or {}
    elif r.get("kind") == "CronJob":
        yield (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    elif r.get("kind") == "Pod":
        yield spec


def render(directory, report):
    """kustomize build, for the fields listed in SUPPORTED_KUSTOMIZATION."""
    kpath = directory / "kustomization.yaml"
    k = load_yaml(kpath, report) or {}
    unsupported = set(k) - SUPPORTED_KUSTOMIZATION
    if unsupported:
        report.problem(rel(kpath), f"fields {sorted(unsupported)} are not supported by the renderer in ops/deploy_checks.py "
                       "(extend it, or keep the overlays to resources/namespace/images/patches)")
    resources = []
    for entry in k.get("resources") or []:
        path = (directory / entry).resolve()
        if path.is_dir():
            resources += render(path, report)
        elif path.is_file():
            resources += load_yaml_docs(path, report)
        else:
            report.problem(rel(kpath), f"resource {entry} not found")
    for patch in k.get("patches") or []:
        if set(patch) - {"path", "patch"}:
            report.problem(rel(kpath), f"patch {patch}: only path/patch (strategic merge, no target) are supported")
            continue
        docs = load_yaml_docs(directory / patch["path"], report) if "path" in patch else \
            [d for d in yaml.safe_load_all(patch["patch"]) if d is not None]
        for doc in docs:
            if not isinstance(doc, dict):
                report.problem(rel(kpath), f"patch {patch}: JSON 6902 patches are not supported by the renderer")
                continue
            pid = (doc.get("apiVersion"), doc.get("kind"), (doc.get("metadata") or {}).get("name"))
            matches = [i for i, r in enumerate(resources) if (r.get("apiVersion"), r.get("kind"), r["metadata"].get("name")) == pid]
            if len(matches) != 1:
                report.problem(rel(kpath), f"patch {patch.get('path', '(inline)')} targets {pid}: {len(matches)} resources match (need 1)")
                continue
            if doc.get("$patch") == "delete":
                resources.pop(matches[0])
            else:
                resources[matches[0]] = smp(resources[matches[0]], doc)
    if k.get("namespace"):
        for r in resources:
            if r.get("kind") not in CLUSTER_SCOPED:
                r.setdefault("metadata", {})["namespace"] = k["namespace"]
    for image in k.get("images") or []:
        for r in resources:
            for spec in pod_specs(r):
                for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                    ref = c.get("image", "")
                    name, tag = (ref.rsplit(":", 1) + [None])[:2] if ":" in ref.split("/")[-1] else (ref, None)
                    if name == image["name"]:
                        new = image.get("newName", name)
                        if image.get("digest"):
                            c["image"] = f"{new}@{image['digest']}"
                        else:
                            c["image"] = f"{new}:{image.get('newTag', tag)}" if image.get("newTag", tag) else new
    return resources


def kustomize_command():
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


# ---------------------------------------------------------------------------------- k8s checks

def validate_keda(r, where, report):
    try:
        from cloudcoil.models.keda import v1alpha1 as keda
    except Exception as exc:
        report.problem(where, f"cannot import the KEDA models (cloudcoil-models-keda): {exc}")
        return
    cls = getattr(keda, r["kind"], None)
    if cls is None:
        report.problem(where, f"{r['kind']} is not a KEDA v1alpha1 kind")
        return
    try:
        model = cls.model_validate(r)
    except Exception as exc:
        report.problem(where, "does not validate against KEDA's CRD schema: " + " ".join(str(exc).split())[:400])
        return
    dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")

    def unknown(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for k, v in a.items():
                if k not in b:
                    report.problem(where, f"unknown field {path}{k} (not in KEDA's CRD schema)")
                else:
                    unknown(v, b[k], f"{path}{k}.")
        elif isinstance(a, list) and isinstance(b, list):
            for i, (x, y) in enumerate(zip(a, b)):
                unknown(x, y, f"{path}{i}.")
    unknown(r, dumped, "")


def check_k8s(report, table, programs, topics, args, facts):
    import kubernetes_validate
    overlays = sorted(p.parent for p in (K8S_DIR / "overlays").glob("*/kustomization.yaml"))
    targets = [K8S_DIR / "base"] + overlays
    command = kustomize_command()
    for target in targets:
        report.section(f"kubernetes: {rel(target)}")
        rendered = render(target, report)
        if command:
            r = subprocess.run(command + [str(target)], capture_output=True, text=True)
            if r.returncode != 0:
                report.problem(rel(target), f"{' '.join(command)} failed: {r.stderr.strip()[:400]}")
            else:
                theirs = {res_id(d): d for d in yaml.safe_load_all(r.stdout) if d}
                ours = {res_id(d): d for d in rendered}
                if theirs != ours:
                    diff = sorted(set(theirs) ^ set(ours), key=str) or \
                        sorted((i for i in ours if i in theirs and ours[i] != theirs[i]), key=str)
                    report.problem(rel(target), f"the renderer here and `{' '.join(command)}` disagree on {diff}")
                else:
                    report.ok(f"rendered {len(rendered)} resources; `{' '.join(command)}` renders the same")
        else:
            report.ok(f"rendered {len(rendered)} resources (no kustomize/kubectl here to compare with)")
        check_rendered(rendered, target, report, table, programs, topics, args, kubernetes_validate, facts)


def check_rendered(rendered, target, report, table, programs, topics, args, kubernetes_validate, facts):
    by_kind = {}
    for r in rendered:
        by_kind.setdefault(r.get("kind"), {})[(r.get("metadata") or {}).get("name")] = r
    # Schemas.
    for r in rendered:
        where = f"{rel(target)}: {r.get('kind')}/{(r.get('metadata') or {}).get('name')}"
        if str(r.get("apiVersion", "")).startswith("keda.sh/"):
            validate_keda(r, where, report)
            continue
        try:
            kubernetes_validate.validate(r, args.kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            report.problem(where, f"kubernetes {args.kubernetes_version} schema (strict): {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            report.problem(where, exc.message)
    # Secrets carry placeholders only.
    for name, s in by_kind.get("Secret", {}).items():
        values = dict(s.get("stringData") or {})
        for k, v in (s.get("data") or {}).items():
            values[k] = base64.b64decode(v).decode("utf-8", "replace")
        for k, v in values.items():
            if not str(v).startswith("CHANGE-ME"):
                report.problem(f"{rel(target)}: Secret/{name}", f"{k} does not look like a placeholder (must start with CHANGE-ME): never commit real secrets")
    configmaps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    # Workloads.
    for kind in ("Deployment", "Job"):
        for name, r in by_kind.get(kind, {}).items():
            where = f"{rel(target)}: {kind}/{name}"
            for spec in pod_specs(r):
                if spec.get("enableServiceLinks") is not False:
                    report.problem(where, "enableServiceLinks must be false: service variables (KAFKA_PORT, ...) would reach the programs")
                if spec.get("automountServiceAccountToken") is not False:
                    report.problem(where, "automountServiceAccountToken should be false (the programs do not call the API)")
                psc = spec.get("securityContext") or {}
                if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
                    report.problem(where, "pod securityContext needs runAsNonRoot: true and a non-zero runAsUser")
                else:
                    facts.setdefault("k8s_uids", set()).add(psc["runAsUser"])
                volumes = {v["name"]: v for v in spec.get("volumes") or []}
                for v in volumes.values():
                    cm = (v.get("configMap") or {}).get("name")
                    if cm and cm not in configmaps and not v["configMap"].get("optional"):
                        report.problem(where, f"volume {v['name']}: ConfigMap {cm} is not in the rendered set")
                    sec = (v.get("secret") or {}).get("secretName")
                    if sec and sec not in secrets and not v["secret"].get("optional"):
                        report.problem(where, f"volume {v['name']}: Secret {sec} is not in the rendered set")
                for c in spec.get("containers") or []:
                    check_container(c, spec, r, volumes, configmaps, secrets, where, report, table, programs, facts)
    deployments = by_kind.get("Deployment", {})
    for kind in ("PodDisruptionBudget", "Service"):
        for name, r in by_kind.get(kind, {}).items():
            selector = (r.get("spec") or {}).get("selector") or {}
            selector = selector.get("matchLabels", selector)
            if not any(all(((d["spec"]["template"].get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())
                       for d in deployments.values()):
                report.problem(f"{rel(target)}: {kind}/{name}", f"selector {selector} matches no Deployment's pods")
    # Autoscaling.
    auths = by_kind.get("TriggerAuthentication", {})
    for name, so in by_kind.get("ScaledObject", {}).items():
        where = f"{rel(target)}: ScaledObject/{name}"
        spec = so.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        dep = deployments.get(ref.get("name"))
        if dep is None or ref.get("kind", "Deployment") != "Deployment":
            report.problem(where, f"scaleTargetRef {ref} is not a Deployment of this set")
            continue
        if "replicas" in dep.get("spec", {}):
            report.problem(where, f"Deployment/{ref['name']} sets replicas while KEDA scales it (they would fight)")
        kafka_env = deployment_kafka_env(dep, configmaps)
        group = facts.get("k8s_group", {}).get(ref["name"], "")
        cap = []
        for trig in spec.get("triggers") or []:
            md = trig.get("metadata") or {}
            if trig.get("type") != "kafka":
                report.problem(where, f"trigger {trig.get('name')}: type {trig.get('type')} (expected kafka)")
                continue
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                if key not in md:
                    report.problem(where, f"trigger {trig.get('name')}: no {key}")
            if md.get("topic") not in topics:
                report.problem(where, f"trigger {trig.get('name')}: topic {md.get('topic')} is not in the catalogue")
            else:
                cap.append(topics[md["topic"]])
            if group and not (md.get("consumerGroup") == group or str(md.get("consumerGroup", "")).startswith(group + "-")):
                report.problem(where, f"trigger {trig.get('name')}: consumerGroup {md.get('consumerGroup')} is not the worker's group {group} or one of its tasks' ({group}-<task>)")
            if str(md.get("allowIdleConsumers", "false")).lower() == "true":
                report.problem(where, f"trigger {trig.get('name')}: allowIdleConsumers would scale past the partitions")
            if kafka_env.get("KAFKA_BOOTSTRAP_SERVERS") and md.get("bootstrapServers") != kafka_env["KAFKA_BOOTSTRAP_SERVERS"]:
                report.problem(where, f"trigger {trig.get('name')}: bootstrapServers {md.get('bootstrapServers')} differs from the pods' KAFKA_BOOTSTRAP_SERVERS {kafka_env['KAFKA_BOOTSTRAP_SERVERS']}")
            auth = (trig.get("authenticationRef") or {}).get("name")
            if auth and auth not in auths:
                report.problem(where, f"trigger {trig.get('name')}: TriggerAuthentication {auth} is not in the set")
        if cap and spec.get("maxReplicaCount", 100) > min(cap):
            report.problem(where, f"maxReplicaCount {spec.get('maxReplicaCount')} exceeds the partition count {min(cap)} of its topics")
        elif cap:
            report.ok(f"ScaledObject/{name}: {len(spec.get('triggers') or [])} Kafka lag triggers, at most {spec.get('maxReplicaCount')} replicas = {min(cap)} partitions")
    for name, ta in auths.items():
        for ref in (ta.get("spec") or {}).get("secretTargetRef") or []:
            s = secrets.get(ref.get("name"))
            if s is None or ref.get("key") not in {**(s.get("stringData") or {}), **(s.get("data") or {})}:
                report.problem(f"{rel(target)}: TriggerAuthentication/{name}", f"secret {ref.get('name')} key {ref.get('key')} is not in the set")
    kinds = ", ".join(f"{k}×{len(v)}" for k, v in sorted(by_kind.items()))
    report.ok(f"schemas and references checked: {kinds}")


def deployment_kafka_env(dep, configmaps):
    env = {}
    for c in dep["spec"]["template"]["spec"].get("containers") or []:
        for ef in c.get("envFrom") or []:
            cm = configmaps.get((ef.get("configMapRef") or {}).get("name"))
            if cm:
                env.update({k: str(v) for k, v in (cm.get("data") or {}).items() if k.startswith("KAFKA_")})
    return env


def check_container(c, spec, r, volumes, configmaps, secrets, where, report, table, programs, facts):
    cwhere = f"{where} container {c.get('name')}"
    args_ = c.get("args") or []
    program = args_[0] if args_ else None
    if c.get("command"):
        report.problem(cwhere, "command replaces the image's entrypoint; give the program as args[0]")
    if program not in programs:
        report.problem(cwhere, f"args[0] {program!r} is not a program the entrypoint accepts ({', '.join(sorted(programs))})")
    sc = c.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False \
            or "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        report.problem(cwhere, "securityContext needs readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities.drop [ALL]")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in (res.get(part) or {}):
                report.problem(cwhere, f"resources.{part}.{what} is not set")
    # The environment the program will see (service links are off).
    env, secret_values = {}, {}
    for ef in c.get("envFrom") or []:
        if "configMapRef" in ef:
            name = ef["configMapRef"].get("name")
            if name not in configmaps:
                if not ef["configMapRef"].get("optional"):
                    report.problem(cwhere, f"envFrom ConfigMap {name} is not in the rendered set")
                continue
            env.update({k: str(v) for k, v in (configmaps[name].get("data") or {}).items()})
        if "secretRef" in ef:
            name = ef["secretRef"].get("name")
            if name not in secrets:
                if not ef["secretRef"].get("optional"):
                    report.problem(cwhere, f"envFrom Secret {name} is not in the rendered set")
                continue
            values = {**(secrets[name].get("stringData") or {}),
                      **{k: base64.b64decode(v).decode() for k, v in (secrets[name].get("data") or {}).items()}}
            env.update(values)
            secret_values.update(values)
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            ref = (e.get("valueFrom") or {})
            if "configMapKeyRef" in ref and ref["configMapKeyRef"].get("name") not in configmaps:
                report.problem(cwhere, f"env {e['name']}: ConfigMap {ref['configMapKeyRef'].get('name')} is not in the set")
            if "secretKeyRef" in ref and ref["secretKeyRef"].get("name") not in secrets:
                report.problem(cwhere, f"env {e['name']}: Secret {ref['secretKeyRef'].get('name')} is not in the set")
            if "secretKeyRef" in ref and ref["secretKeyRef"].get("name") in secrets:
                sec, key = secrets[ref["secretKeyRef"]["name"]], ref["secretKeyRef"].get("key")
                values = {**(sec.get("stringData") or {}),
                          **{k: base64.b64decode(v).decode() for k, v in (sec.get("data") or {}).items()}}
                if key not in values:
                    report.problem(cwhere, f"env {e['name']}: Secret {ref['secretKeyRef']['name']} has no key {key}")
                env[e["name"]] = values.get(key, "")  # the placeholder: long enough to pass the programs' checks
                secret_values[e["name"]] = env[e["name"]]
                continue
            env[e["name"]] = "pod-name-0"
    if "KAFKA_BOOTSTRAP_SERVERS" not in env:
        report.problem(cwhere, "no KAFKA_BOOTSTRAP_SERVERS in its environment")
    config_file, config_text = None, None
    if "--config" in args_:
        config_file = args_[args_.index("--config") + 1] if args_.index("--config") + 1 < len(args_) else None
        config_text = mounted_file(config_file, c, volumes, configmaps)
        if config_text is None:
            report.problem(cwhere, f"--config {config_file} is not a file of a mounted ConfigMap")
    if program and program.endswith("-worker"):
        settings = worker_settings(table, program, report, cwhere) or {}
        for var in env:
            if var.startswith("CARGOWATCH_") and var not in settings:
                report.problem(cwhere, f"{var} is not a setting of {program} (docs/configuration.md): exit 78")
        file_settings = {}
        if config_text is not None:
            try:
                file_settings = flatten_config(yaml.safe_load(config_text) or {})
            except yaml.YAMLError as exc:
                report.problem(cwhere, f"--config {config_file}: not valid YAML: {exc}")
            keys = set(settings.values())
            for key in file_settings:
                if not key.startswith("kafka.") and key not in keys:
                    report.problem(cwhere, f"--config {config_file}: {key} is not a setting of {program}")
        port = env.get("CARGOWATCH_HTTP_PORT") or file_settings.get("http.port")
        named = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            pport = named.get(get.get("port"), get.get("port"))
            if get.get("path") != path:
                report.problem(cwhere, f"{probe} must GET {path}")
            if port is not None and str(pport) != str(port):
                report.problem(cwhere, f"{probe} probes port {pport} but http.port is {port}")
        deadline = str(env.get("CARGOWATCH_SHUTDOWN_DEADLINE") or file_settings.get("shutdown.deadline") or "30s")
        m = re.fullmatch(r"(\d+)(ms|s|m|h)", deadline)
        seconds = int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else 30
        if spec.get("terminationGracePeriodSeconds", 30) <= seconds:
            report.problem(cwhere, f"terminationGracePeriodSeconds {spec.get('terminationGracePeriodSeconds', 30)} is not above shutdown.deadline {deadline}")
        group = env.get("CARGOWATCH_GROUP_ID") or file_settings.get("group.id") or "cargowatch-" + program.removesuffix("-worker")
        facts.setdefault("k8s_group", {})[r["metadata"]["name"]] = group
    facts.setdefault("k8s_envs", []).append((cwhere, program, env, config_text))


def mounted_file(path, container, volumes, configmaps):
    for vm in container.get("volumeMounts") or []:
        mount = vm.get("mountPath", "").rstrip("/")
        if path and path.startswith(mount + "/"):
            vol = volumes.get(vm.get("name")) or {}
            cm = configmaps.get((vol.get("configMap") or {}).get("name"))
            if cm:
                return (cm.get("data") or {}).get(path[len(mount) + 1:])
    return None


# ------------------------------------------------------------------------------------ Dockerfile

def check_dockerfile(report, programs, facts):
    report.section("Dockerfile (agrees with the entrypoint, paths and manifests)")
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    where = "Dockerfile"
    m = re.search(r"for product in ([^;]+);", text)
    built = set(m.group(1).split()) if m else set()
    if built != programs:
        report.problem(where, f"builds {sorted(built)} but the entrypoint accepts {sorted(programs)}")
    m = re.search(r'^ENTRYPOINT \["([^"]+)"\]', text, re.M)
    entry = m.group(1) if m else None
    if not re.search(r"^COPY (--chmod=\S+ )?ops/container/entrypoint\.sh " + re.escape(entry or "?") + r"\s*$", text, re.M):
        report.problem(where, f"ENTRYPOINT {entry} is not where ops/container/entrypoint.sh is copied")
    if not re.search(r"^COPY reference/ /opt/cargowatch/reference/?\s*$", text, re.M):
        report.problem(where, "reference/ is not copied to /opt/cargowatch/reference (the programs' default lookup)")
    m = re.search(r"^USER (\d+)(?::(\d+))?\s*$", text, re.M)
    if not m or m.group(1) == "0":
        report.problem(where, "the last stage must run as a numeric non-root USER (Kubernetes runAsNonRoot checks it)")
    elif facts.get("k8s_uids") and {int(m.group(1))} != facts["k8s_uids"]:
        report.problem(where, f"USER {m.group(1)} but the manifests run as {sorted(facts['k8s_uids'])}")
    if "HEALTHCHECK" not in text or "/healthz" not in text:
        report.problem(where, "no HEALTHCHECK on /healthz")
    if not re.search(r"^FROM \S*debian:trixie-slim|RUNTIME_IMAGE=debian:trixie-slim", text, re.M):
        report.problem(where, "the run stage is not debian:trixie-slim (librdkafka1 2.8.0)")
    report.ok(f"programs {', '.join(sorted(built))}; entrypoint {entry}; reference data; USER {m.group(1) if m else '?'}")


# -------------------------------------------------------------------------------------- programs

def find_bin_dir(explicit):
    """--bin-dir, else the more recently built of .build/release and .build/debug."""
    candidates = [Path(explicit)] if explicit else [ROOT / ".build" / "release", ROOT / ".build" / "debug"]
    built = [d for d in candidates
             if all((d / p).is_file() and os.access(d / p, os.X_OK) for p in ("enrichment-worker", "cargowatch"))]
    return max(built, key=lambda d: (d / "enrichment-worker").stat().st_mtime, default=None)


def check_programs(report, facts, bin_dir, explicit):
    report.section("programs (the environments above, through the built programs)")
    if bin_dir is None and explicit:
        report.problem("--bin-dir", f"{explicit} does not hold built enrichment-worker and cargowatch")
        return
    if bin_dir is None:
        report.warn("programs", "no built programs (.build/release or .build/debug): settings were checked against "
                    "docs/configuration.md only; build once to check them through the programs")
        return
    base_env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    if os.environ.get("LD_LIBRARY_PATH"):
        base_env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    checked = 0
    for where, program, env, config_text in facts.get("compose_envs", []) + facts.get("k8s_envs", []):
        if not program:
            continue
        run_env = {**base_env, **env}
        if program.endswith("-worker"):
            exe = bin_dir / program
            if not exe.is_file():
                report.warn(where, f"{program} is not built in {rel(bin_dir)}: not run")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [str(exe), "--print-config"]
                if config_text is not None:
                    cfg = Path(tmp) / "config.yaml"
                    cfg.write_text(config_text, encoding="utf-8")
                    cmd = [str(exe), "--config", str(cfg), "--print-config"]
                r = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                report.problem(where, f"{program} --print-config exits {r.returncode}: {(r.stderr or r.stdout).strip()[:300]}")
            else:
                for var, value in env.items():
                    if var in ("KAFKA_SASL_PASSWORD",):
                        continue
                    if var.startswith("CARGOWATCH_") and f"# env {var}" not in r.stdout:
                        report.problem(where, f"{var} does not show as the source of a setting in --print-config")
            checked += 1
        # librdkafka accepts every KAFKA_* property (a producer is created; nothing is sent).
        kafka_env = {k: v for k, v in env.items() if k.startswith("KAFKA_")}
        if facts.get("generate_hangs"):
            continue
        try:
            r = subprocess.run([str(bin_dir / "cargowatch"), "generate", "--count", "0"], env={**base_env, **kafka_env},
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            report.problem(where, "`cargowatch generate --count 0` did not exit within 60 s: it must create a producer, "
                           "send nothing and exit (does it send records with --count 0 now?); the other KAFKA_* sets were not probed")
            facts["generate_hangs"] = True
            continue
        if r.returncode != 0:
            report.problem(where, f"librdkafka refuses its KAFKA_* properties: {(r.stderr or r.stdout).strip()[:300]}")
        checked += 1
    report.ok(f"{checked} runs of the programs in {rel(bin_dir)} accepted the compose and Kubernetes settings")


# ------------------------------------------------------------------------------------------ main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--print-metric-names", action="store_true",
                        help="print the metric names the dashboard and the alert rules use, one per line, and exit")
    parser.add_argument("--bin-dir", help="directory of built programs (default .build/release or .build/debug)")
    parser.add_argument("--kubernetes-version", default="1.30", help="Kubernetes version of the schemas (default 1.30)")
    parser.add_argument("--promtool", default=shutil.which("promtool"),
                        help="promtool to check the Prometheus config and run the rule tests (default: on PATH)")
    args = parser.parse_args(argv)

    report = Report()
    used = {}
    facts = {"promtool": os.path.abspath(args.promtool) if args.promtool else None,
             "metric_labels": exported_metrics(report)[2]}
    if args.print_metric_names:
        quiet = Report()
        sys.stdout = open(os.devnull, "w")
        try:
            check_prometheus(quiet, used, facts)
            check_grafana(quiet, used, facts)
        finally:
            sys.stdout.close()
            sys.stdout = sys.__stdout__
        if quiet.problems:
            print(f"deploy-checks: {quiet.problems} problem(s) reading the dashboard or the rules; run ops/validate-deploy", file=sys.stderr)
            return 1
        for name in sorted(set().union(*used.values())):
            print(name)
        return 0

    table = configuration_table(report)
    topics = topic_catalogue(report)
    programs = entrypoint_programs(report)
    check_prometheus(report, used, facts)
    check_compose(report, table, programs, facts)
    check_grafana(report, used, facts)
    names = check_metric_names(report, used)
    check_handler_events(report)
    check_k8s(report, table, programs, topics, args, facts)
    check_dockerfile(report, programs, facts)
    check_programs(report, facts, find_bin_dir(args.bin_dir), args.bin_dir)
    print(f"deploy-checks: {len(names)} metric names, {report.warnings} warning(s), "
          + (f"{report.problems} problem(s)" if report.problems else "no problems"))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
