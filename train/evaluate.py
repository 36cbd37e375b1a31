#!/usr/bin/python3
"""Quality of a model in nats per byte, the ways issue 10 and hecatectl eval
measure it.

  fresh windows (nanoGPT's way): window k is bytes [kN, kN + N + 1) of the
      text; each starts from a zero state at pulse 0, its first byte is
      context only, so every byte after the text's first is scored once, with
      1..N bytes of context (`hecatectl eval --window=N`);
  stream: the whole text through one session, state carried; every byte
      after the first is scored given everything before it (`hecatectl eval`);
  depth: per-position loss of streams of S bytes, in buckets of position
      (does the model get worse deeper into a stream?);
  norms: the largest Frobenius norm of each level's M, S, G (any layer, head)
      over a long stream (does the memory stay bounded?).

    evaluate.py MODEL_DIR [--text data/tinyshakespeare.txt] [--split val|train|all]
                [--fresh 256] [--stream] [--depth 8192] [--norms BYTES] [--device cuda]
"""

import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import hecatelm as hl  # noqa: E402
from model_io import load_model  # noqa: E402


def split_text(data, split):
    """The usual split: first 90% of bytes train, last 10% validation."""
    cut = int(len(data) * 0.9)
    return {"train": data[:cut], "val": data[cut:], "all": data}[split]


def as_tokens(data, device):
    return torch.tensor(list(data), dtype=torch.long, device=device)


@torch.no_grad()
def eval_fresh_windows(cfg, w, data, window=256, batch=512):
    """(sum of nats, bytes scored) over fresh windows of `window` bytes."""
    device = w["embed"].device
    tokens = as_tokens(data, device)
    starts = list(range(0, len(data) - 1, window))
    total, count = 0.0, 0
    # Full windows batched; a final shorter one on its own.
    full = [s for s in starts if s + window + 1 <= len(data)]
    rest = [s for s in starts if s + window + 1 > len(data)]
    for i in range(0, len(full), batch):
        idx = torch.tensor(full[i:i + batch], device=device)[:, None] + torch.arange(
            window + 1, device=device)[None, :]
        seq = tokens[idx]
        state = hl.State.zeros(cfg, seq.shape[0], w["embed"].dtype, device)
        logits, _ = hl.forward(cfg, w, seq[:, :-1], state)
        total += float(hl.next_byte_loss(logits, seq[:, 1:], reduction="sum"))
        count += seq[:, 1:].numel()
    for s in rest:
        seq = tokens[s:][None]
        state = hl.State.zeros(cfg, 1, w["embed"].dtype, device)
        logits, _ = hl.forward(cfg, w, seq[:, :-1], state)
        total += float(hl.next_byte_loss(logits, seq[:, 1:], reduction="sum"))
        count += seq.shape[1] - 1
    return total, count


@torch.no_grad()
def stream_losses(cfg, w, data, chunk=2048, streams=1, on_state=None):
    """Per-byte nats [streams, n-1] of `streams` equal consecutive pieces of
    data (n bytes each), each streamed through one carried state. on_state(
    pulse, State) is called after every chunk."""
    device = w["embed"].device
    n = len(data) // streams
    tokens = as_tokens(data[:n * streams], device).view(streams, n)
    state = hl.State.zeros(cfg, streams, w["embed"].dtype, device)
    out = []
    for begin in range(0, n - 1, chunk):
        end = min(n - 1, begin + chunk)
        logits, state = hl.forward(cfg, w, tokens[:, begin:end], state)
        out.append(torch.nn.functional.cross_entropy(
            logits.float().transpose(1, 2), tokens[:, begin + 1:end + 1], reduction="none"))
        if on_state:
            on_state(end, state)
    return torch.cat(out, dim=1)


def depth_buckets(losses, edges=(0, 256, 1024, 4096, 8192)):
    """Mean nats/byte of stream positions in [edges[i], edges[i+1]), where
    position i is the loss of byte i+1 (i bytes of context before byte i)."""
    out = {}
    for a, b in zip(edges, edges[1:]):
        if losses.shape[1] >= b - 1:
            out[f"{a}-{b - 1}"] = float(losses[:, a:b - 1].mean()) if a < b - 1 else None
    return out


def state_norm_max(cfg, w, data, chunk=4096):
    """Largest Frobenius norm, per level and tensor kind, of any (layer, head)
    matrix over a stream of `data`; sampled after every chunk."""
    worst = {}

    def watch(_, state):
        for name, t in state.tensors.items():
            if ".level" not in name:
                continue
            key = name.split(".", 2)[2]  # level{j}.M
            norm = float(torch.linalg.norm(t.float(), dim=(-2, -1)).max())
            worst[key] = max(worst.get(key, 0.0), norm)

    stream_losses(cfg, w, data, chunk=chunk, on_state=watch)
    return worst


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--text", default=os.path.join(
        os.path.dirname(os.path.realpath(__file__)), "..", "data", "tinyshakespeare.txt"))
    parser.add_argument("--split", default="val", choices=["val", "train", "all"])
    parser.add_argument("--fresh", type=int, default=256, help="window; 0: skip")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--depth", type=int, default=0, help="stream length; 0: skip")
    parser.add_argument("--depth_stride", type=int, default=1024)
    parser.add_argument("--norms", type=int, default=0, help="bytes of all text; 0: skip")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    cfg, w, _ = load_model(args.model_dir)
    w = {n: t.to(args.device) for n, t in w.items()}
    with open(args.text, "rb") as f:
        text = f.read()
    data = split_text(text, args.split)
    figures = {"bytes": len(data), "split": args.split}
    t0 = time.time()
    if args.fresh:
        total, count = eval_fresh_windows(cfg, w, data, args.fresh)
        figures["fresh_window"] = args.fresh
        figures["fresh_nats_per_byte"] = total / count
        print(f"fresh windows of {args.fresh}: {count} bytes scored, "
              f"{total / count:.4f} nats/byte, {total / count / math.log(2):.4f} bits/byte")
    if args.stream:
        losses = stream_losses(cfg, w, data)
        figures["stream_nats_per_byte"] = float(losses.mean())
        print(f"one stream, state carried: {losses.numel()} bytes scored, "
              f"{float(losses.mean()):.4f} nats/byte, "
              f"{float(losses.mean()) / math.log(2):.4f} bits/byte")
    if args.depth:
        # Streams start every --depth_stride bytes and wrap around the text, so
        # every byte is scored at every depth alike and the buckets compare
        # depth, not passages.
        starts = range(0, len(data), args.depth_stride)
        ring = data + data[: args.depth + 1]
        streams = b"".join(ring[s:s + args.depth + 1] for s in starts)
        losses = stream_losses(cfg, w, streams, chunk=256, streams=len(starts))
        figures["depth"] = depth_buckets(losses)
        print(f"streams of {args.depth} bytes, nats/byte by position: {figures['depth']}")
    if args.norms:
        norms = state_norm_max(cfg, w, text[: args.norms])
        figures["state_norm_max"] = norms
        print(f"max state norms over {min(args.norms, len(text))} bytes: "
              + ", ".join(f"{k} {v:.3f}" for k, v in sorted(norms.items())))
    figures["seconds"] = time.time() - t0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
