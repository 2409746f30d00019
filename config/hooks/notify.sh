#!/bin/sh
# pulsewatch hook: tell the person at the machine that a worker changed state.
# A desktop notification (notify-send) when a session bus is reachable, else a line with a
# bell on every terminal of the user the hook runs as. Reads nothing but PULSEWATCH_*.
#
#   [[hook]]
#   command = ["/etc/pulsewatch/hooks/notify.sh"]
#   on = ["stalled", "orphaned"]
set -u
msg="pulsewatch: $PULSEWATCH_WORKER is $PULSEWATCH_STATE ($PULSEWATCH_REASON)"
case "$PULSEWATCH_EVENT" in
  repeat) msg="$msg, still" ;;
  flap_end) msg="$msg, settled after flapping" ;;
esac
urgency=normal
case "$PULSEWATCH_STATE" in stalled|orphaned) urgency=critical ;; esac

# The hook environment is minimal: find the user's session bus the way systemd lays it out.
bus="/run/user/$(id -u)/bus"
if command -v notify-send >/dev/null 2>&1 && [ -S "$bus" ]; then
  DBUS_SESSION_BUS_ADDRESS="unix:path=$bus" exec notify-send -u "$urgency" -a pulsewatch \
    "$msg" "idle ${PULSEWATCH_IDLE_FOR_S}s · log $PULSEWATCH_LOG"
fi

told=0
for tty in /dev/pts/[0-9]*; do
  [ -O "$tty" ] && [ -w "$tty" ] || continue
  printf '\a\r\n%s\r\n' "$msg" > "$tty" 2>/dev/null && told=1
done
[ "$told" = 1 ] || echo "$msg (no desktop session or terminal to tell)" >&2
