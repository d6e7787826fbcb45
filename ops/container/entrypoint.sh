#!/bin/sh
# cargowatch-entrypoint: the image's ENTRYPOINT (installed as /usr/local/bin/cargowatch-entrypoint).
# The first argument chooses the program, the rest go to it unchanged:
#   docker run IMAGE enrichment-worker [--config FILE] [--print-config]
#   docker run IMAGE cargowatch topics create
# The program replaces this shell (exec), so it receives SIGTERM directly and its exit code is
# the container's. Settings come only from CARGOWATCH_* / KAFKA_* variables and --config FILE
# (docs/configuration.md). Exit codes of its own: 64 usage (unknown or missing program),
# 69 program not installed. Everything else is the program's (78 = configuration error).
#
# CARGOWATCH_BIN_DIR (default /usr/local/bin) is where the programs are looked up; it exists for
# testing outside a container (ops/container/test-entrypoint.sh) and is removed from the
# environment before the program starts: the programs refuse unknown CARGOWATCH_* variables.
set -eu

bin_dir="${CARGOWATCH_BIN_DIR:-/usr/local/bin}"
unset CARGOWATCH_BIN_DIR

usage() {
  cat <<'USAGE'
usage: cargowatch-entrypoint PROGRAM [ARGUMENTS...]

PROGRAM is one of:
  enrichment-worker   normalises and joins parcel events and declarations (HTTP 8081)
  sensitivity-worker  classifies records, PII-free analyst streams, tagged access events (HTTP 8082)
  fraud-worker        explainable customs risk scores and bands (HTTP 8083)
  aggregation-worker  windowed trade flows, customs risk, access activity, harvesting alerts (HTTP 8084)
  probe-worker        the runtime's test worker (HTTP 8089)
  cargowatch          the CLI: topics create|check|list, generate, tail, config-docs
  help                this text

Settings: CARGOWATCH_* and KAFKA_* environment variables, or --config FILE (workers).
Examples:
  enrichment-worker --print-config
  cargowatch topics create
  cargowatch generate --rate 50 --duration 1h
USAGE
}

if [ "$#" -eq 0 ]; then
  echo "cargowatch-entrypoint: no program given" >&2
  usage >&2
  exit 64
fi

program=$1
shift
case "$program" in
  enrichment-worker | sensitivity-worker | fraud-worker | aggregation-worker | probe-worker | cargowatch) ;;
  help | -h | --help)
    usage
    exit 0
    ;;
  *)
    printf 'cargowatch-entrypoint: unknown program "%s"\n' "$program" >&2
    usage >&2
    exit 64
    ;;
esac

executable="$bin_dir/$program"
if [ ! -x "$executable" ]; then
  printf 'cargowatch-entrypoint: %s is not installed (no executable %s)\n' "$program" "$executable" >&2
  exit 69
fi
exec "$executable" "$@"
