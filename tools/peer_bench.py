#!/usr/bin/env python3
"""The PyTorch peer of issue 14 item 6: the trainer's forward (train/hecatelm.py,
the code the weights are trained with) timed in inference mode, for the cases
cuda_backend_bench times: decode B=1, decode B=256, prefill T=2048.

    tools/peer_bench.py --config=base --device=cuda --write_model=DIR
        writes DIR/config.json + model.safetensors (the weights the peer times;
        `cuda_backend_bench --weights=DIR` then runs the very same ones)
    tools/peer_bench.py --model=DIR --device=cuda --hecate_log=BENCH_LOG --json=OUT
        times the peer; with --hecate_log, first compares the peer's logits with
        the `check_logits` line cuda_backend_bench --weights=DIR printed
    tools/peer_bench.py --quick            tiny config on the CPU, in seconds

Fairness, as far as torch allows:
  * torch.inference_mode, float32 weights and state, TF32 off (--tf32 adds
    rows with TF32 matrix products on);
  * both of the trainer's forms for decode: the chunk/span form (forward's
    default, which pads a slow level's single token to its period) and
    `token_loop=True` (the plain recurrence); the faster is the peer's number;
  * decode and prefill captured in CUDA graphs (torch.cuda.CUDAGraph) where the
    capture works, eager otherwise (the row says which). The trainer's forward
    copies two small host tensors to the GPU each call (RoPE's cos/sin, formed
    in float64 on the host from exact pulse ids, and the pulse ids for the
    attention mask), which a capture refuses; for the graph the peer hands
    forward those same tensors already on the GPU (`_Staged`), and checks the
    graph's logits against the plain, unpatched eager forward;
  * each timed call ends with the logits on the host (as Hecate's Forward does);
    median of repeats after warm-up; decode graphs are captured at 8
    consecutive pulse ids and replayed in turn, so the slow levels' fires
    (every 8th token at period 8) are in the mix as they are in Hecate's run.
  * The trainer needs every stream of a batch at the same phase, so decode
    B=256 runs 256 streams at one pulse id (Hecate's bench spreads them).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "train"))
import hecatelm as hl  # noqa: E402
from model_io import load_model, save_model  # noqa: E402

CHECK_TEXT = b"Hecate peer check."  # cuda_backend_bench's kCheckText


def random_state(cfg, batch, device, pulse, seed):
    """A state of modest random values (never time on zeros), made on `device`."""
    g = torch.Generator(device=device).manual_seed(seed)
    shapes = hl.State.zeros(cfg, 1, torch.float32, "meta", pulse)
    tensors = {n: (torch.rand((batch,) + tuple(t.shape[1:]), generator=g, device=device)
                   - 0.5) * 0.1 for n, t in shapes.tensors.items()}
    return hl.State(tensors, torch.full((batch,), int(pulse), dtype=torch.int64))


class _Staged:
    """Makes hecatelm.forward capturable: while active, hecatelm's `rope` and
    `window_attention` take their host-made tensors (RoPE's cos/sin from the
    float64 angles of the exact positions; the pulse ids) from a cache filled
    by an eager call with the same positions, instead of copying them to the
    GPU inside the call. Values are the ones the trainer's rope forms."""

    def __init__(self, device):
        self.device = device
        self.tables = {}
        self.pulses = {}
        self.capturing = False
        self.orig_rope = hl.rope
        self.orig_attention = hl.window_attention

    def rope(self, x, positions):
        d = x.shape[-1]
        key = (d, x.dtype, tuple(positions.flatten().tolist()), tuple(positions.shape))
        if key not in self.tables:
            if self.capturing:
                raise RuntimeError("positions not staged before capture")
            i = torch.arange(d // 2, dtype=torch.float64)
            inv_freq = torch.pow(torch.tensor(hl.ROPE_BASE, dtype=torch.float64), -2.0 * i / d)
            angle = positions.to(torch.float64)[..., None] * inv_freq
            cos = torch.cos(angle).to(x.dtype).to(x.device)[:, :, None, :]
            sin = torch.sin(angle).to(x.dtype).to(x.device)[:, :, None, :]
            self.tables[key] = (cos, sin)
        cos, sin = self.tables[key]
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def window_attention(self, cfg, q, k, v, k_prev, v_prev, pulse):
        key = tuple(pulse.tolist())
        if key not in self.pulses:
            if self.capturing:
                raise RuntimeError("pulse ids not staged before capture")
            self.pulses[key] = pulse.to(q.device)
        return self.orig_attention(cfg, q, k, v, k_prev, v_prev, self.pulses[key])

    def __enter__(self):
        hl.rope, hl.window_attention = self.rope, self.window_attention
        return self

    def __exit__(self, *exc):
        hl.rope, hl.window_attention = self.orig_rope, self.orig_attention
        self.capturing = False


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def max_diff(a, b):
    return float((a.double() - b.double()).abs().max())


def time_eager(cfg, w, tokens_fn, state, device, token_loop, warmup, repeats, advance):
    """Median seconds of forward + logits to host; `advance`: carry the state."""
    times = []
    for i in range(warmup + repeats):
        tokens = tokens_fn(i)
        sync(device)
        t0 = time.perf_counter()
        logits, new_state = hl.forward(cfg, w, tokens, state, token_loop=token_loop)
        logits[:, -1].to("cpu")
        t1 = time.perf_counter()
        if advance:
            state = new_state
        del logits, new_state
        if i >= warmup:
            times.append(t1 - t0)
    return statistics.median(times)


def time_graphs(cfg, w, tokens, state, pulses, device, token_loop, warmup, repeats, check):
    """Captures forward at each pulse id in `pulses` (same inputs, one memory
    pool), replays them in turn; median seconds of replay + logits to host.
    Returns (seconds, max |graph - eager| of the first pulse's logits)."""
    graphs, outs = [], []
    pool = torch.cuda.graph_pool_handle()
    staged = _Staged(device)
    reference = None
    side = torch.cuda.Stream()
    with staged:
        for n, p in enumerate(pulses):
            st = hl.State(state.tensors, torch.full_like(state.pulse, p))
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up on a side stream, stages the tables
                    hl.forward(cfg, w, tokens, st, token_loop=token_loop)
            torch.cuda.current_stream().wait_stream(side)
            sync(device)
            torch.cuda.empty_cache()  # B=256: a state is 30 GB; keep one spare at most
            g = torch.cuda.CUDAGraph()
            staged.capturing = True
            with torch.cuda.graph(g, pool=pool):
                logits, new_state = hl.forward(cfg, w, tokens, st, token_loop=token_loop)
                last = logits[:, -1]
            staged.capturing = False
            del new_state  # its memory goes back to the pool for the next capture
            graphs.append(g)
            if n == 0 and check:
                g.replay()
                sync(device)
                got = last.to("cpu")
                with _Unstaged():
                    want, want_state = hl.forward(cfg, w, tokens, st, token_loop=token_loop)
                reference = max_diff(got, want[:, -1].to("cpu"))
                del want, want_state
                torch.cuda.empty_cache()
            outs.append(last)
            del logits
    times = []
    for i in range(warmup + repeats * len(graphs)):
        g, last = graphs[i % len(graphs)], outs[i % len(graphs)]
        sync(device)
        t0 = time.perf_counter()
        g.replay()
        last.to("cpu")
        t1 = time.perf_counter()
        if i >= warmup:
            times.append(t1 - t0)
    del graphs, outs
    return statistics.median(times), reference


class _Unstaged:
    """The trainer's own rope and window_attention, whatever is patched."""

    def __enter__(self):
        self.saved = hl.rope, hl.window_attention
        hl.rope, hl.window_attention = _ORIG_ROPE, _ORIG_ATTENTION

    def __exit__(self, *exc):
        hl.rope, hl.window_attention = self.saved


_ORIG_ROPE, _ORIG_ATTENTION = hl.rope, hl.window_attention


def check_against_hecate(cfg, w, device, log_path, tolerance):
    """The peer's last logits after CHECK_TEXT from a fresh state against the
    `check_logits` line of cuda_backend_bench --weights."""
    hecate = None
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("check_logits "):
                hecate = json.loads(line[len("check_logits "):])
    if hecate is None:
        print(f"parity NOT CHECKED: {log_path} has no check_logits line "
              "(cuda_backend_bench --weights=DIR)", flush=True)
        return None
    if hecate["text"].encode() != CHECK_TEXT:
        raise SystemExit(f"check text differs: {hecate['text']!r}")
    tokens = torch.tensor([list(CHECK_TEXT)], dtype=torch.int64, device=device)
    state = hl.State.zeros(cfg, 1, torch.float32, device, 0)
    logits, _ = hl.forward(cfg, w, tokens, state)
    diff = max_diff(logits[0, -1].cpu(), torch.tensor(hecate["logits"]))
    print(f"parity: peer vs Hecate logits after {CHECK_TEXT.decode()!r}: max |diff| {diff:.3g}"
          f" (tolerance {tolerance:g})", flush=True)
    if not diff <= tolerance:
        # One device call is all a run gets: say so loudly, keep timing.
        print("parity FAILED: the peer and Hecate disagree; timings not comparable", flush=True)
    return diff


def self_check(cfg, w, device):
    """The chunk/span forms the peer times equal the trainer's token loop
    (the trainer's parity tests, repeated on this device and these weights)."""
    g = torch.Generator().manual_seed(3)
    T = max(cfg.periods) + 5 if max(cfg.periods) <= 64 else 70
    tokens = torch.randint(0, 256, (1, T), generator=g).to(device)
    state = random_state(cfg, 1, device, max(cfg.periods) * 3, seed=4)
    a, _ = hl.forward(cfg, w, tokens, state)
    b, _ = hl.forward(cfg, w, tokens, state, token_loop=True)
    diff = max_diff(a, b)
    print(f"self-check: chunk/span form vs token loop, {T} tokens: max |diff| {diff:.3g}",
          flush=True)
    if not diff <= 1e-3:
        raise SystemExit("self-check FAILED")
    # The staged rope/pulse tensors the graphs use give the trainer's values.
    with _Staged(device):
        for _ in range(2):  # the first call stages, the second reads the cache
            c, _ = hl.forward(cfg, w, tokens, state)
    staged = max_diff(a, c)
    print(f"self-check: staged (graph-ready) forward vs the trainer's: max |diff| {staged:.3g}",
          flush=True)
    if not staged <= 1e-6:
        raise SystemExit("self-check FAILED (staged forward)")
    return diff


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="base", choices=sorted(hl.NAMED_CONFIGS))
    ap.add_argument("--model", help="model folder (config.json + model.safetensors)")
    ap.add_argument("--write_model", help="write the weights used here to this folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cases", default="decode1,decode256,prefill2048")
    ap.add_argument("--decode_batch", type=int, default=256)
    ap.add_argument("--prefill_tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--phases", type=int, default=8, help="decode graphs at this many pulses")
    ap.add_argument("--tf32", action="store_true", help="also rows with TF32 matmuls")
    ap.add_argument("--no_graphs", action="store_true")
    ap.add_argument("--hecate_log", help="cuda_backend_bench --weights output (check_logits)")
    ap.add_argument("--parity_tolerance", type=float, default=1e-3)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quick", action="store_true",
                    help="tiny config on the CPU, small cases (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.config, args.device = "tiny", "cpu"
        args.decode_batch, args.prefill_tokens = 2, 32
        args.repeats, args.warmup, args.phases = 2, 1, 2
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cpu":
        torch.set_num_threads(min(4, os.cpu_count() or 1))

    if args.model:
        cfg, weights, _ = load_model(args.model)
        source = args.model
    else:
        cfg = hl.NAMED_CONFIGS[args.config]
        weights = hl.init_weights(cfg, torch.Generator().manual_seed(args.seed))
        source = f"init_weights({args.config}, seed {args.seed})"
    if args.write_model:
        save_model(args.write_model, cfg, weights, {"source": "tools/peer_bench.py " + source})
        print(f"wrote {args.write_model} ({source})", flush=True)
        if not args.cases:
            return 0
    w = {n: t.to(device, torch.float32).contiguous() for n, t in weights.items()}
    # The peer is the trainer's forward, not a copy of it.
    assert hl.forward.__module__ == "hecatelm" and os.path.samefile(
        os.path.dirname(hl.__file__), os.path.join(ROOT, "train"))
    info = {"forward": os.path.relpath(hl.__file__, ROOT) + ":forward", "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "config": cfg.to_dict(), "weights": source, "rows": []}
    print(f"peer: {info['forward']} torch {info['torch']} on {info['device']}, "
          f"weights {source}", flush=True)

    with torch.inference_mode():
        info["self_check_max_diff"] = self_check(cfg, w, device)
        if args.hecate_log:
            diff = check_against_hecate(cfg, w, device, args.hecate_log, args.parity_tolerance)
            info["hecate_parity_max_diff"] = diff
            info["hecate_parity_ok"] = diff is not None and diff <= args.parity_tolerance
        graphs_ok = device.type == "cuda" and not args.no_graphs
        cases = [c for c in args.cases.split(",") if c]
        precisions = [False, True] if args.tf32 and device.type == "cuda" else [False]
        for tf32 in precisions:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            for case in cases:
                if tf32 and case.startswith("decode") and case != "decode1":
                    continue
                for row in run_case(case, cfg, w, device, args, graphs_ok):
                    row["precision"] = "tf32" if tf32 else "fp32"
                    info["rows"].append(row)
                    print(json.dumps(row), flush=True)
                    write_json(args.json, info)  # a run cut short keeps its rows
        torch.backends.cuda.matmul.allow_tf32 = False

    best = write_json(args.json, info)
    print(f"\n{'case':<12} {'prec':<5} {'B':>4} {'T':>5} {'form':<11} {'mode':<6} {'ms':>10}"
          f" {'tokens/s':>11}")
    for r in info["rows"]:
        ms = "-" if r.get("ms") is None else f"{r['ms']:.3f}"
        tps = "-" if r.get("ms") is None else f"{r['batch'] * r['tokens'] / r['ms'] * 1e3:.0f}"
        mark = " *" if best.get((r["case"], r["precision"])) is r else ""
        print(f"{r['case']:<12} {r['precision']:<5} {r['batch']:>4} {r['tokens']:>5} "
              f"{r['form']:<11} {r['mode']:<6} {ms:>10} {tps:>11}{mark}")
    print("* the peer's number for the case (fastest form and mode)")
    return 0


def write_json(path, info):
    """info["best"]: per (case, precision) the fastest row that ran without
    error (the peer's number); writes info to `path` when given."""
    best = {}
    for r in info["rows"]:
        key = (r["case"], r["precision"])
        if r.get("ms") is not None and not r.get("error") and (
                key not in best or r["ms"] < best[key]["ms"]):
            best[key] = r
    info["best"] = list(best.values())
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(path + ".tmp", path)
    return best


def run_case(case, cfg, w, device, args, graphs_ok):
    """Rows for one case: each form, graph (if it captures) and eager."""
    if case == "decode1":
        batch, T, forms = 1, 1, (("token_loop", True), ("chunk_span", False))
    elif case.startswith("decode"):
        batch, T, forms = args.decode_batch, 1, (("token_loop", True), ("chunk_span", False))
    elif case.startswith("prefill"):
        batch, T, forms = 1, args.prefill_tokens, (("chunk_span", False),)
    else:
        raise SystemExit(f"unknown case {case}")
    decode = T == 1
    # Decode from pulse ids 4096.. (phase 0 of every period); prefill from 0,
    # as cuda_backend_bench does.
    pulse0 = 8 * max(cfg.periods) if decode else 0
    gen = torch.Generator().manual_seed(11)
    stream = torch.randint(0, 256, (batch, 4096 if decode else T), generator=gen).to(device)
    rows = []
    for form, token_loop in forms:
        base = {"case": case, "batch": batch, "tokens": T, "form": form}
        state = random_state(cfg, batch, device, pulse0, seed=5)
        if graphs_ok:
            try:
                pulses = [pulse0 + i for i in range(args.phases)] if decode else [pulse0]
                tokens = stream[:, :T].contiguous()
                reps = max(4, args.repeats // len(pulses)) if decode else max(3, args.repeats // 4)
                s, diff = time_graphs(cfg, w, tokens, state, pulses, device, token_loop,
                                      args.warmup, reps, check=True)
                rows.append(dict(base, mode="graph", ms=s * 1e3, graph_vs_eager_max_diff=diff))
                if diff is not None and diff > 1e-4:
                    rows[-1]["error"] = "graph logits differ from eager"
                    print(f"WARNING {case} {form}: graph vs eager {diff:.3g}", flush=True)
            except Exception as e:  # noqa: BLE001 - report and fall back to eager
                rows.append(dict(base, mode="graph", ms=None,
                                 error=f"capture failed: {type(e).__name__}: {str(e)[:200]}"))
                print(f"{case} {form}: CUDA graph capture failed, eager only: {e}", flush=True)
            torch.cuda.empty_cache()
        if decode:
            s = time_eager(cfg, w, lambda i: stream[:, i % 4096:i % 4096 + 1], state, device,
                           token_loop, args.warmup, args.repeats, advance=True)
        else:
            s = time_eager(cfg, w, lambda i: stream, state, device, token_loop,
                           1, max(3, args.repeats // 4), advance=False)
        rows.append(dict(base, mode="eager", ms=s * 1e3))
        del state
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
