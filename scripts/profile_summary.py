#!/usr/bin/env python3
"""Summarises a chrome://tracing profile written by `t2v bench ... --profile FILE`: self time (an op's
time minus the ops it called) and call count per op name, largest first.
  python3 scripts/profile_summary.py FILE [--top 25]"""
import argparse, collections, json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.file) as f:
        events = json.load(f)
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    spans = [e for e in events if e.get("ph") == "X" and "dur" in e]
    by_thread = collections.defaultdict(list)
    for e in spans:
        by_thread[e.get("tid", 0)].append(e)
    self_us, calls = collections.Counter(), collections.Counter()
    total = 0.0
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(item):
            self_us[item[1]] += item[3] - item[2]
        for e in evs:
            while stack and e["ts"] >= stack[-1][0]:
                close(stack.pop())
            if stack:
                stack[-1][2] += e["dur"]
            else:
                total += e["dur"]
            stack.append([e["ts"] + e["dur"], e["name"], 0.0, e["dur"]])
            calls[e["name"]] += 1
        while stack:
            close(stack.pop())
    print(f"{'op':40s} {'self s':>9s} {'share':>7s} {'calls':>7s}")
    for name, us in self_us.most_common(a.top):
        print(f"{name[:40]:40s} {us / 1e6:9.3f} {100 * us / max(total, 1):6.1f}% {calls[name]:7d}")
    print(f"{'total (top-level ops)':40s} {total / 1e6:9.3f}")


if __name__ == "__main__":
    main()
