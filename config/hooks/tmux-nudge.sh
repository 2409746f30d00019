#!/bin/sh
# pulsewatch hook: show a stalled agent's state in tmux and, optionally, nudge it by typing
# into its pane. The pane is the worker's `tmux_target` label when it has one (e.g.
# labels = { tmux_target = "agents:1.0" }), else the session named like the worker (the
# default for `[[discover]] tmux = …` with id = "{session}").
#
#   [[hook]]
#   name = "nudge"
#   command = ["/etc/pulsewatch/hooks/tmux-nudge.sh", "-L", "agents", "--keys", "continue"]
#   on = ["stalled"]
#   repeat = "30m"          # nudge again while it stays stalled
#
# Options: -L NAME / -S PATH pick the tmux server (default: the default server);
# --keys TEXT types TEXT followed by Enter into the pane (without it: only display-message).
set -eu
sflag=""
sval=""
keys=""
while [ $# -gt 0 ]; do
  case "$1" in
    -L|-S) sflag=$1; sval=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    *) echo "tmux-nudge.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
target=${PULSEWATCH_LABEL_TMUX_TARGET:-$PULSEWATCH_WORKER}
msg="pulsewatch: $PULSEWATCH_WORKER $PULSEWATCH_STATE ($PULSEWATCH_REASON), idle ${PULSEWATCH_IDLE_FOR_S}s"

# Every value is one argument: nothing here is parsed by a shell twice.
tm() { tmux ${sflag:+"$sflag"} ${sflag:+"$sval"} "$@"; }
tm display-message -t "$target" "$msg"
if [ -n "$keys" ]; then
  tm send-keys -t "$target" -l "$keys"
  tm send-keys -t "$target" Enter
fi
