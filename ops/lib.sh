# Shared helpers for ops/ scripts. Sourced, not run.
set -euo pipefail
CARGOWATCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGOWATCH_STATE="${CARGOWATCH_STATE:-$CARGOWATCH_ROOT/.cache}"
# librdkafka >= 2.8 goes into /usr/local so that pkg-config (build) and ld.so (run) both find it
# before any distribution copy; see ops/install-deps.
RDKAFKA_MIN_VERSION="2.8.0"
RDKAFKA_PREFIX="${RDKAFKA_PREFIX:-/usr/local}"
export PKG_CONFIG_PATH="$RDKAFKA_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$RDKAFKA_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="/opt/swift/usr/bin:$PATH"
mkdir -p "$CARGOWATCH_STATE"

log() { printf '[ops] %s\n' "$*" >&2; }
die() { printf '[ops] error: %s\n' "$*" >&2; exit 1; }

version_ge() { # version_ge A B: A >= B
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}
