#!/usr/bin/env python3
"""Where a step's time goes, kernel by kernel, from engine_step_bench --trace_csv.

The CSV (kernels/testing/kernel_trace.h, one line a kernel or copy of every
case's timed steps: case,batch,tokens,step,start_ns,end_ns,stream,blocks,
shared_bytes,name) says which timed step each record belongs to (without a
step column, steps are split at idle gaps longer than --gap_us). For each
case it prints:
  1. every kernel of the median-length step: start and end from the step's
     start, duration, stream, blocks and shared memory a block (PDL
     dependents start before the kernel they wait for ends, so intervals
     overlap);
  2. per kernel family, averaged over the last steps: calls, busy time, and
     the time it ran alone (no other kernel of the step running): the wall
     time it adds; then the step's idle time (launch gaps, host).
Usage: step_timeline.py TRACE.csv [--skip=5] [--last=40] [--no_steps] [--gap_us=20]
"""
import argparse
import csv
import re
import statistics
import sys


def family(name):
    """A kernel's short name: template arguments kept, namespaces and parameters not."""
    name = re.sub(r"^void\s+", "", name)
    name = re.sub(r"\(anonymous namespace\)::", "", name)
    name = re.sub(r"\bhecate::", "", name)
    name = re.sub(r"\bgemv_core::", "", name)
    name = re.sub(r"\((?:[^()]|\([^()]*\))*\)$", "", name)  # the parameter list
    name = re.sub(r"\(GemvPrologue\)", "P", name)
    return name[:64]


def read_cases(path):
    cases = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["case"], int(r["batch"]), int(r["tokens"]))
            step = int(r["step"]) if r.get("step") not in (None, "") else None
            cases.setdefault(key, []).append(
                (int(r["start_ns"]) / 1e3, int(r["end_ns"]) / 1e3, r["stream"],
                 int(r["blocks"]), int(r["shared_bytes"]), r["name"], step))
    for events in cases.values():
        events.sort()
    return cases


def split_steps(events, gap_us):
    if events and events[0][6] is not None:
        by_step = {}
        for e in events:
            by_step.setdefault(e[6], []).append(e)
        return [by_step[k] for k in sorted(by_step)]
    steps, current, end = [], [], 0.0
    for e in events:
        if current and e[0] - end > gap_us:
            steps.append(current)
            current = []
        end = e[1] if not current else max(end, e[1])
        current.append(e)
    if current:
        steps.append(current)
    return steps


def alone_times(step):
    """Per family: the time it ran with no other activity; and the idle time."""
    points = sorted({t for e in step for t in (e[0], e[1])})
    alone, idle = {}, 0.0
    for a, b in zip(points, points[1:]):
        running = [e for e in step if e[0] <= a and e[1] >= b]
        if not running:
            idle += b - a
        elif len(running) == 1:
            f = family(running[0][5])
            alone[f] = alone.get(f, 0.0) + b - a
    return alone, idle


def span(step):
    return max(e[1] for e in step) - step[0][0]


def report(key, events, args):
    steps = [s for s in split_steps(events, args.gap_us)[args.skip:] if len(s) > 2]
    print(f"\n######## {key[0]} B={key[1]} T={key[2]}: ", end="")
    if not steps:
        print("no steps found")
        return
    spans = sorted(span(s) for s in steps)
    median = statistics.median(spans)
    step = min(steps, key=lambda s: abs(span(s) - median))
    print(f"{len(steps)} steps, GPU span p50 {median:.1f} us (min {spans[0]:.1f}), "
          f"{len(step)} kernels and copies a step")
    if not args.no_steps:
        t0 = step[0][0]
        print(f"{'start':>7} {'end':>7} {'dur':>6} {'strm':>4} {'blocks':>6} {'smemKB':>6}  kernel")
        for s, e, strm, blocks, smem, name, _ in step:
            print(f"{s - t0:7.1f} {e - t0:7.1f} {e - s:6.1f} {strm:>4} {blocks:6d} "
                  f"{smem / 1024:6.1f}  {family(name)}")
    last = steps[-args.last:]
    calls, busy, alone, idle = {}, {}, {}, 0.0
    for st in last:
        a, i = alone_times(st)
        idle += i
        for f, t in a.items():
            alone[f] = alone.get(f, 0.0) + t
        for s, e, _, _, _, name, _ in st:
            f = family(name)
            calls[f] = calls.get(f, 0) + 1
            busy[f] = busy.get(f, 0.0) + e - s
    n = len(last)
    print(f"-- per family, us a step (mean of the last {n} steps; span {median:.1f})")
    print(f"{'calls':>5} {'busy':>8} {'alone':>8}  kernel")
    for f in sorted(busy, key=lambda f: -alone.get(f, 0.0)):
        print(f"{calls[f] / n:5.0f} {busy[f] / n:8.1f} {alone.get(f, 0.0) / n:8.1f}  {f}")
    total_alone = sum(alone.values()) / n
    print(f"alone in all {total_alone:.1f}, idle {idle / n:.1f}, overlapped "
          f"{median - total_alone - idle / n:.1f} us")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--gap_us", type=float, default=20.0)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--last", type=int, default=40)
    parser.add_argument("--no_steps", action="store_true")
    args = parser.parse_args()
    cases = read_cases(args.trace)
    if not cases:
        sys.exit("no traced activity")
    for key, events in cases.items():
        report(key, events, args)


if __name__ == "__main__":
    main()
