#!/usr/bin/env bash
# Long fuzz runs (not a CI step): each target in turn, one core, then the corpus minimized.
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 600 s, every target
# The stable toolchain builds libFuzzer targets when told it may use nightly flags
# (RUSTC_BOOTSTRAP=1); nothing else is needed besides cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
export RUSTC_BOOTSTRAP=1
cargo fuzz build
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t: ${secs}s"
  # -jobs=1 -workers=1: one fuzzing process; the machine is shared.
  cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -timeout=10 -jobs=1 -workers=1 -print_final_stats=1
  tail -n 12 "fuzz-0.log" | grep -E '^(Done|stat::)' || true
  cargo fuzz cmin "$t" "corpus/$t"
done
