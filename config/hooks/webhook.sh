#!/bin/sh
# pulsewatch hook: POST the event to a webhook. The body is the event's JSON line exactly as
# the event log holds it (pulsewatch writes it to standard input); curl reads it from there,
# so nothing about the worker ever passes through a command line or a shell.
# A non-2xx answer or a network error exits non-zero, so `retries` apply.
#
#   [[hook]]
#   name = "webhook"
#   command = ["/etc/pulsewatch/hooks/webhook.sh", "https://hooks.example.com/agents"]
#   on = ["stalled", "orphaned", "*->alive"]
#   retries = 3
#   timeout = "20s"
#
# Extra arguments after the URL go to curl as they are, e.g. a header file:
#   command = [".../webhook.sh", "https://…", "-H", "@/etc/pulsewatch/webhook-headers"]
set -eu
[ $# -ge 1 ] || { echo "usage: webhook.sh URL [CURL ARGS…]" >&2; exit 2; }
url=$1
shift
exec curl --fail --silent --show-error --max-time 15 \
  -H 'Content-Type: application/json' \
  -H "X-Pulsewatch-Seq: $PULSEWATCH_SEQ" \
  -H "X-Pulsewatch-Attempt: $PULSEWATCH_ATTEMPT" \
  --data-binary @- "$@" -- "$url"
