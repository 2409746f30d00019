#!/usr/bin/env python3
"""Checks a pulsewatch event log against the invariants of docs/RELIABILITY.md (the same
checks as tests/common/invariants.rs): every line parses, seq is gapless from the first
line, each worker is added once (again only after worker_removed), each transition starts
where the last one ended, and no hook run (transition seq, hook, attempt) is told twice
nor run again after it succeeded. Prints the counts; exit 1 and the violations otherwise."""
import json
import sys


def check(path):
    bad, events = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                events.append(json.loads(line))
            except ValueError as e:
                bad.append(f"line {n} is torn: {e}: {line[:120]!r}")
    first = events[0]["seq"] if events else 1
    for i, e in enumerate(events):
        if e.get("seq") != first + i:
            bad.append(f"seq {e.get('seq')} where {first + i} was due")
            break
    state, runs, ok = {}, set(), set()
    for e in events:
        kind, w, seq = e.get("event"), e.get("worker"), e.get("seq")
        if kind == "worker_added":
            if w in state:
                bad.append(f"{w} added twice (seq {seq})")
            state[w] = e["state"]
        elif kind == "worker_removed":
            state.pop(w, None)
        elif kind == "transition":
            if state.get(w) != e["from"]:
                bad.append(f"{w}: transition seq {seq} from {e['from']} but the state was {state.get(w)}")
            state[w] = e["to"]
        elif kind == "hook":
            key = (e.get("transition_seq"), e.get("hook"))
            if key in ok:
                bad.append(f"hook run {key} ran again after it succeeded (seq {seq})")
            if (key, e.get("attempt")) in runs:
                bad.append(f"hook run {key} attempt {e.get('attempt')} told twice (seq {seq})")
            runs.add((key, e.get("attempt")))
            if e.get("outcome") == "ok":
                ok.add(key)
    kinds = {}
    for e in events:
        kinds[e.get("event")] = kinds.get(e.get("event"), 0) + 1
    return events, kinds, bad


if __name__ == "__main__":
    events, kinds, bad = check(sys.argv[1])
    print(f"{len(events)} events: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for b in bad[:50]:
        print("VIOLATION:", b)
    print(f"{len(bad)} invariant violations")
    sys.exit(1 if bad else 0)
