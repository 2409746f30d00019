#!/usr/bin/env bash
# Soak: 1,000 workers with churn against one pulsewatch daemon, sampling its RSS, open fds
# and threads every 10 s. See docs/RELIABILITY.md ("Soak").
#
#   bench/soak.sh [SECONDS]        default 600; BIN=path/to/pulsewatch to pick the binary
#
# Churn, every second: ~20 workers write output, ~4 worker processes are killed and
# restarted (new PID in their pidfile), ~2 logs are rotated (rename + recreate), one
# registry entry is added and one removed; thresholds are seconds, so workers keep
# moving between alive, quiet, stalled and orphaned, and a hook runs on every change.
# Pass: RSS growth < 5 % after warm-up (the first third), fd and thread counts flat
# (their maximum in the last third no higher than in the second, plus the fds that the
# running hooks hold), zero invariant violations in the event log (bench/check_events.py),
# and exit 0 on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
WORKERS=1000
REGISTRY=50
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  if [ -x target/release/pulsewatch ]; then BIN=target/release/pulsewatch; else BIN=target/debug/pulsewatch; fi
fi
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release" >&2; exit 2; }
BIN=$(realpath "$BIN")

DIR=$(mktemp -d /tmp/pulsewatch-soak.XXXXXX)
mkdir -p "$DIR"/{logs,pids,workers,state,run}
declare -a PIDS
cleanup() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

cat > "$DIR/hook.sh" <<'H'
#!/bin/sh
cat > /dev/null
H
chmod 755 "$DIR/hook.sh"
cat > "$DIR/config.toml" <<C
[daemon]
state_dir = "$DIR/state"
status_file = "$DIR/run/status.json"
heartbeat_file = "$DIR/run/heartbeat.json"
sweep_interval = "1s"
liveness_every = "30s"
hook_concurrency = 8

[defaults]
quiet_after = "5s"
stalled_after = "15s"
start_grace = "5s"
flap_window = "1m"
flap_threshold = 6

[[discover]]
logs = "$DIR/logs/*.log"
id = "{stem}"
pidfile = "$DIR/pids/{stem}.pid"

[[discover]]
registry = "$DIR/workers"

[[hook]]
name = "soak"
command = ["$DIR/hook.sh"]
on = ["*"]
timeout = "10s"
retries = 1
C
chmod 644 "$DIR/config.toml"

start_worker() { sleep 1000000 & PIDS[$1]=$!; echo "${PIDS[$1]}" > "$DIR/pids/w$1.pid"; }
for ((i = 0; i < WORKERS; i++)); do
  echo start > "$DIR/logs/w$i.log"
  start_worker "$i"
done

"$BIN" run -c "$DIR/config.toml" 2> "$DIR/daemon.log" &
DAEMON=$!
until [ -s "$DIR/run/status.json" ]; do sleep 0.2; done
echo "daemon $DAEMON, $WORKERS workers, $DURATION s, samples in $DIR/samples.csv"

echo "t_s,rss_kib,fds,threads,alive,quiet,stalled,orphaned" > "$DIR/samples.csv"
sample() {
  local rss threads fds counts
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$DAEMON/status")
  fds=$(ls "/proc/$DAEMON/fd" | wc -l)
  counts=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]; print(",".join(str(c[k]) for k in ("alive","quiet","stalled","orphaned")))' "$DIR/run/status.json" 2>/dev/null || echo ",,,")
  echo "$1,$rss,$fds,$threads,$counts" | tee -a "$DIR/samples.csv"
}

start=$SECONDS
next_sample=0
reg_next=0
early=0
while (( SECONDS - start < DURATION )); do
  now=$((SECONDS - start))
  if ! kill -0 "$DAEMON" 2>/dev/null; then echo "the daemon exited after ${now} s" >&2; early=1; break; fi
  if (( now >= next_sample )); then sample "$now"; next_sample=$((next_sample + 10)); fi
  for ((k = 0; k < 20; k++)); do echo "out $now" >> "$DIR/logs/w$((RANDOM % WORKERS)).log"; done
  for ((k = 0; k < 4; k++)); do
    i=$((RANDOM % WORKERS)); kill "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true
    (( RANDOM % 2 )) && start_worker "$i"   # half come back at once, half on a later round
  done
  for ((k = 0; k < 2; k++)); do
    i=$((RANDOM % WORKERS)); mv "$DIR/logs/w$i.log" "$DIR/logs/w$i.log.1" && echo rotated > "$DIR/logs/w$i.log"
  done
  # Registry: entry r<N> in, entry r<N-REGISTRY> out.
  printf 'id = "r%d"\nlog = "%s/logs/r%d.log"\n' "$reg_next" "$DIR" "$reg_next" > "$DIR/workers/.r$reg_next.tmp"
  mv "$DIR/workers/.r$reg_next.tmp" "$DIR/workers/r$reg_next.toml"
  rm -f "$DIR/workers/r$((reg_next - REGISTRY)).toml"
  reg_next=$((reg_next + 1))
  # Dead processes without a pidfile update come back now and then.
  for ((k = 0; k < 2; k++)); do
    i=$((RANDOM % WORKERS)); kill -0 "${PIDS[$i]}" 2>/dev/null || start_worker "$i"
  done
  sleep 1
done
(( early )) || sample "$((SECONDS - start))"

kill -TERM "$DAEMON" 2>/dev/null || true
code=0; wait "$DAEMON" || code=$?
DAEMON=
echo "daemon exit code: $code"
python3 bench/check_events.py "$DIR/state/events.ndjson" | tee "$DIR/check.txt"
violations=$(tail -1 "$DIR/check.txt" | awk '{print $1}')

python3 - "$DIR/samples.csv" "$code" "$violations" "$early" <<'P'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
n = len(rows)
third = max(1, n // 3)
warm, mid, last = rows[third], rows[third:2 * third] or rows[third:], rows[2 * third:] or rows[-1:]
rss0 = int(warm["rss_kib"])
rss_end = max(int(r["rss_kib"]) for r in last)
growth = (rss_end - rss0) * 100.0 / rss0
fd_mid, fd_last = max(int(r["fds"]) for r in mid), max(int(r["fds"]) for r in last)
th_mid, th_last = max(int(r["threads"]) for r in mid), max(int(r["threads"]) for r in last)
HOOK_FDS = 8 * 4  # hook_concurrency runs, each with stdin, stdout, stderr and a pidfd
ok = sys.argv[4] == "0" and growth < 5 and fd_last <= fd_mid + HOOK_FDS and th_last <= th_mid and sys.argv[2] == "0" and sys.argv[3] == "0"
print(f"samples {n}; RSS after warm-up {rss0} KiB, max in the last third {rss_end} KiB: {growth:+.1f} %")
print(f"fds: max {fd_mid} in the middle third, {fd_last} in the last; threads: {th_mid} / {th_last}")
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
P
