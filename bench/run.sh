#!/usr/bin/env bash
# Side-by-side benchmark of pulsewatch and monit (Debian's monit, installed when missing):
# N workers with real logs and 1,000 real processes, 10 % of the logs written every 100 ms.
# Writes target/bench/results.md (the table for BENCHMARKS.md) and results.json.
#
#   bench/run.sh                 # N = 1,000 and 10,000 (about 6 minutes)
#   bench/run.sh 1000            # one size
#   BENCH_ARGS="--window 30" bench/run.sh 1000   # driver options: see bench/driver.py --help
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v monit >/dev/null 2>&1; then
  echo "installing monit"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq monit
fi
command -v python3 >/dev/null 2>&1 || { echo "bench/run.sh needs python3" >&2; exit 1; }

cargo build --release --bin pulsewatch
# shellcheck disable=SC2086
exec python3 bench/driver.py --pulsewatch target/release/pulsewatch --out target/bench ${BENCH_ARGS:-} "$@"
