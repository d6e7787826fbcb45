#!/usr/bin/env bash
# Runs the image's entrypoint (ops/container/entrypoint.sh) outside a container, against the
# programs built in .build/debug (or the directory given as $1 / CARGOWATCH_TEST_BIN_DIR), with
# a clean environment, under every POSIX shell found (sh, dash, busybox sh):
#   - unknown or missing program -> exit 64 with the usage text; `help` -> exit 0
#   - a known program that is not installed -> exit 69
#   - `cargowatch --help` and `cargowatch topics list` (arguments passed through) work
#   - `enrichment-worker --print-config` shows CARGOWATCH_HTTP_PORT=9999 and
#     KAFKA_BOOTSTRAP_SERVERS=kafka:9092 with their env sources (and CARGOWATCH_BIN_DIR, which the
#     programs would refuse as an unknown setting, does not leak through)
#   - CARGOWATCH_HTTP_PORT=abc -> exit 78 naming http.port
#   - the program replaces the shell (exec): same PID, SIGTERM reaches the worker
# Prints one line per check and a closing "N passed, N failed" line; exits 1 on any failure.
# shellcheck disable=SC2016 # check ... eval '...': the quoted conditions are expanded by eval, on purpose
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
entrypoint="$root/ops/container/entrypoint.sh"
bin_dir="${1:-${CARGOWATCH_TEST_BIN_DIR:-$root/.build/debug}}"
for p in enrichment-worker probe-worker cargowatch; do
  [ -x "$bin_dir/$p" ] || { echo "test-entrypoint: $bin_dir/$p not found: build first (swift build)" >&2; exit 2; }
done

passed=0
failed=0
out="$(mktemp)"
err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT

check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok - $what"
  else
    failed=$((failed + 1)); echo "FAIL - $what"
    sed 's/^/    stdout: /' "$out" | head -n 8
    sed 's/^/    stderr: /' "$err" | head -n 8
  fi
}

# run SHELL [VAR=value...] -- ARGS...: the entrypoint under SHELL with only the given variables
# (plus PATH, HOME and the loader path the debug build needs); sets $rc.
run() {
  local shell=$1; shift
  local vars=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp "CARGOWATCH_BIN_DIR=$bin_dir")
  [ -n "${LD_LIBRARY_PATH:-}" ] && vars+=("LD_LIBRARY_PATH=$LD_LIBRARY_PATH")
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  # shellcheck disable=SC2086 # $shell may be "busybox sh"
  env -i "${vars[@]}" $shell "$entrypoint" "$@" >"$out" 2>"$err"
  rc=$?
}

shells=()
for s in sh dash "busybox sh"; do
  command -v "${s%% *}" >/dev/null 2>&1 && shells+=("$s")
done

for shell in "${shells[@]}"; do
  echo "# shell: $shell"
  run "$shell" -- no-such-program
  check "[$shell] unknown program -> exit 64 ($rc)" test "$rc" -eq 64
  check "[$shell] unknown program -> usage on stderr" grep -q "^usage: cargowatch-entrypoint PROGRAM" "$err"

  run "$shell" --
  check "[$shell] no program -> exit 64 ($rc) with usage" eval '[ "$rc" -eq 64 ] && grep -q "^usage:" "$err"'

  run "$shell" -- help
  check "[$shell] help -> exit 0 ($rc), usage on stdout" eval '[ "$rc" -eq 0 ] && grep -q "enrichment-worker" "$out"'

  run "$shell" CARGOWATCH_BIN_DIR=/nonexistent -- enrichment-worker
  check "[$shell] known program not installed -> exit 69 ($rc)" eval '[ "$rc" -eq 69 ] && grep -q "not installed" "$err"'

  run "$shell" -- cargowatch --help
  check "[$shell] cargowatch --help -> exit 0 ($rc)" eval '[ "$rc" -eq 0 ] && grep -q "USAGE: cargowatch <subcommand>" "$out"'

  run "$shell" -- cargowatch topics list
  check "[$shell] cargowatch topics list (arguments passed through) -> exit 0 ($rc)" \
    eval '[ "$rc" -eq 0 ] && grep -q "^parcels.events" "$out"'

  run "$shell" CARGOWATCH_HTTP_PORT=9999 KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -- enrichment-worker --print-config
  check "[$shell] enrichment-worker --print-config -> exit 0 ($rc)" test "$rc" -eq 0
  check "[$shell] print-config: http.port 9999 from env CARGOWATCH_HTTP_PORT" \
    grep -qx "http.port: 9999  # env CARGOWATCH_HTTP_PORT" "$out"
  check "[$shell] print-config: bootstrap.servers kafka:9092 from env KAFKA_BOOTSTRAP_SERVERS" \
    grep -qx "kafka.bootstrap.servers: kafka:9092  # env KAFKA_BOOTSTRAP_SERVERS" "$out"
  check "[$shell] print-config: CARGOWATCH_BIN_DIR did not reach the program" eval '! grep -q "CARGOWATCH_BIN_DIR" "$out" "$err"'

  run "$shell" CARGOWATCH_HTTP_PORT=abc -- enrichment-worker
  check "[$shell] CARGOWATCH_HTTP_PORT=abc -> exit 78 ($rc)" test "$rc" -eq 78
  check "[$shell] CARGOWATCH_HTTP_PORT=abc -> message names http.port and its source" \
    grep -q "http.port (env CARGOWATCH_HTTP_PORT): expected an integer" "$err"

  run "$shell" CARGOWATCH_NO_SUCH_SETTING=1 -- probe-worker --print-config
  check "[$shell] unknown CARGOWATCH_ variable -> exit 78 ($rc) (why the entrypoint unsets its own)" test "$rc" -eq 78
done

# exec: the worker replaces the shell (same PID) and gets SIGTERM itself. No broker is needed:
# the worker serves /healthz and waits for the (unreachable) broker until it is stopped.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -i PATH=/usr/bin:/bin HOME=/tmp "CARGOWATCH_BIN_DIR=$bin_dir" ${LD_LIBRARY_PATH:+"LD_LIBRARY_PATH=$LD_LIBRARY_PATH"} \
  CARGOWATCH_HTTP_PORT="$port" CARGOWATCH_SHUTDOWN_DEADLINE=2s KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1 \
  sh "$entrypoint" probe-worker >"$out" 2>"$err" &
pid=$!
healthy=1
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3 && head -n1 <&3 | grep -q " 200 ") 2>/dev/null; then
    healthy=0; break
  fi
  sleep 0.1
done
check "exec: /healthz answers 200 on CARGOWATCH_HTTP_PORT=$port" test "$healthy" -eq 0
exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
check "exec: PID $pid is the program itself ($exe)" test "$exe" = "$(readlink -f "$bin_dir/probe-worker")"
kill -TERM "$pid" 2>/dev/null
stopped=1
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { stopped=0; break; }; sleep 0.1; done
[ "$stopped" -eq 0 ] || kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "exec: SIGTERM stops the worker within 10 s" test "$stopped" -eq 0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
