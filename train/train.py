#!/usr/bin/python3
"""Trains a HecateLM on a byte text and exports a model folder hecated serves.

    train.py --out OUT [--config tiny] [--text data/tinyshakespeare.txt]
             [--steps N | --time_budget SECONDS] [--batch 128] [--window 256] ...

The recipe (train/README.md): AdamW with decoupled weight decay on matrices,
linear warmup then cosine decay, gradient clipping, dropout on the residual
branches during training only, and a mix of two kinds of streams in every
batch: fresh windows (zero state at pulse 0, as a new session starts) and
carried streams that read consecutive windows of the text with the state (and
the attention window) carried across and the gradient cut between windows
(truncated BPTT), as a served session streams on. The best model on the
validation split (fresh windows of --window bytes) is kept and exported.

Writes OUT/model/ (config.json, model.safetensors), OUT/train_log.jsonl (one
JSON object per logged step or evaluation: loss, lr, tokens/s, gate means and
gradient norms per level) and OUT/summary.json.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import hecatelm as hl  # noqa: E402
from evaluate import eval_fresh_windows, split_text  # noqa: E402
from model_io import save_model  # noqa: E402

HERE = os.path.dirname(os.path.realpath(__file__))


class StreamSampler:
    """B streams of windows over the training bytes. Streams [0, fresh) start
    every window afresh at a random offset; the others read on from where
    their last window ended, and restart at a random offset with probability
    `restart` per window (or at the end of the text). Yields (tokens
    [B, T + 1], restarted bool [B]): window t's inputs are tokens[:, :T], its
    targets tokens[:, 1:]."""

    def __init__(self, data, batch, window, fresh, restart, generator):
        self.data = torch.tensor(list(data), dtype=torch.long)
        self.batch, self.window, self.fresh, self.restart = batch, window, fresh, restart
        self.gen = generator
        self.pos = self._random_offsets(batch)

    def _random_offsets(self, n):
        return torch.randint(0, len(self.data) - self.window - 1, (n,), generator=self.gen)

    def next(self):
        restarted = torch.rand(self.batch, generator=self.gen) < self.restart
        restarted[: self.fresh] = True
        restarted |= self.pos + self.window + 1 > len(self.data)
        self.pos = torch.where(restarted, self._random_offsets(self.batch), self.pos)
        idx = self.pos[:, None] + torch.arange(self.window + 1)[None, :]
        self.pos = self.pos + self.window
        return self.data[idx], restarted


def lr_at(step, progress, peak, floor, warmup):
    """Linear warmup over `warmup` steps, then cosine from peak to floor as
    progress (the share of the run done, 0..1) goes to 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def level_grad_norms(cfg, params):
    """Gradient norm of each level's own parameters: its alpha, theta, eta
    columns of every layer's mem.wgate and entries of mem.bgate."""
    H, levels = cfg.n_heads, cfg.levels
    sums = [0.0] * levels
    for l in range(cfg.n_layers):
        for name in ("mem.wgate", "mem.bgate"):
            grad = params[f"layers.{l}.{name}"].grad
            if grad is None:
                continue
            g = grad.view(-1, 3, levels, H) if grad.dim() == 2 else grad.view(1, 3, levels, H)
            per_level = (g.float() ** 2).sum(dim=(0, 1, 3))
            for j in range(levels):
                sums[j] += float(per_level[j])
    return [math.sqrt(s) for s in sums]


def trainer_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=HERE,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="tiny", choices=sorted(hl.NAMED_CONFIGS))
    p.add_argument("--text", default=os.path.join(HERE, "..", "data", "tinyshakespeare.txt"))
    p.add_argument("--steps", type=int, default=0, help="total steps (or use --time_budget)")
    p.add_argument("--time_budget", type=float, default=0,
                   help="seconds of training instead of --steps: the schedule follows the "
                        "clock and the run ends, annealed, when the time is up")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--window", type=int, default=256, help="tokens per window (BPTT length)")
    p.add_argument("--fresh_fraction", type=float, default=0.5,
                   help="share of streams that start every window from a zero state")
    p.add_argument("--restart", type=float, default=1 / 16,
                   help="per-window chance that a carried stream starts afresh")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min_lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight_decay", type=float, default=0.1)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--chunk", type=int, default=64, help="delta-rule chunk size")
    p.add_argument("--eval_every", type=int, default=100)
    p.add_argument("--log_every", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tf32", action="store_true", help="TF32 matmuls while training (CUDA)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def train(args, cfg=None, text=None):
    """Trains as the arguments say; cfg and text override --config and
    --text (tests train small configs on a slice)."""
    cfg = cfg or hl.NAMED_CONFIGS[args.config]
    if args.window % max(cfg.periods):
        raise ValueError(f"--window must be a multiple of the largest period {max(cfg.periods)}")
    torch.manual_seed(args.seed)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    gen = torch.Generator().manual_seed(args.seed)
    if text is None:
        with open(args.text, "rb") as f:
            text = f.read()
    train_bytes, val_bytes = split_text(text, "train"), split_text(text, "val")
    params = {n: t.to(args.device).requires_grad_() for n, t in
              hl.init_weights(cfg, gen).items()}
    decay = [t for n, t in params.items() if t.dim() == 2]
    no_decay = [t for n, t in params.items() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, args.beta2))
    fresh = int(round(args.batch * args.fresh_fraction))
    sampler = StreamSampler(train_bytes, args.batch, args.window, fresh, args.restart, gen)
    state = hl.State.zeros(cfg, args.batch, torch.float32, args.device)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train_log.jsonl"), "w")
    n_params = sum(t.numel() for t in params.values())
    meta = {"config": cfg.to_dict(), "params": n_params, "args": vars(args),
            "commit": trainer_commit(), "device": torch.cuda.get_device_name()
            if args.device.startswith("cuda") else "cpu", "torch": torch.__version__}
    log.write(json.dumps({"meta": meta}) + "\n")

    def say(text):
        if not args.quiet:
            print(text, flush=True)

    say(f"training {args.config} ({n_params} parameters) on {len(train_bytes)} bytes, "
        f"validating on {len(val_bytes)}; device {meta['device']}")
    if bool(args.steps) == bool(args.time_budget):
        raise ValueError("give exactly one of --steps and --time_budget")
    best, best_step, tokens_seen = float("inf"), -1, 0
    t_start = time.time()
    t_log, tokens_log = t_start, 0
    step = 0

    def progress():
        if args.steps:
            return (step - args.warmup) / max(1, args.steps - args.warmup)
        return (time.time() - t_start) / args.time_budget

    done = False
    while not done:
        lr = lr_at(step, progress(), args.lr, args.min_lr, args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        batch, restarted = sampler.next()
        batch = batch.to(args.device)
        state = state.reset(restarted).detach()
        stats = {} if step % args.log_every == 0 else None
        logits, state = hl.forward(cfg, params, batch[:, :-1], state, dropout=args.dropout,
                                   chunk=args.chunk, gate_stats=stats)
        loss = hl.next_byte_loss(logits, batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(list(params.values()), args.clip)
        level_norms = level_grad_norms(cfg, params) if stats is not None else None
        opt.step()
        step += 1
        tokens_seen += batch[:, 1:].numel()
        tokens_log += batch[:, 1:].numel()
        done = step >= args.steps if args.steps else progress() >= 1
        if stats is not None:
            now = time.time()
            record = {"step": step, "loss": loss.item(), "lr": lr, "grad_norm": float(grad_norm),
                      "tokens": tokens_seen, "tokens_per_s": tokens_log / (now - t_log),
                      "gates": stats, "level_grad_norms": level_norms,
                      "elapsed_s": now - t_start}
            t_log, tokens_log = now, 0
            log.write(json.dumps(record) + "\n")
            log.flush()
            say(f"step {step:5d}  loss {record['loss']:.4f}  lr {lr:.2e}  "
                f"{record['tokens_per_s'] / 1e3:.0f}k tok/s  gates " +
                " ".join(f"{k}={v:.3f}" for k, v in sorted(stats.items())) +
                "  level grads " + " ".join(f"{g:.2e}" for g in level_norms))
        if step % args.eval_every == 0 or done:
            w = {n: t.detach() for n, t in params.items()}
            total, count = eval_fresh_windows(cfg, w, val_bytes, args.window)
            val = total / count
            improved = val < best
            if improved:
                best, best_step = val, step
                save_model(os.path.join(args.out, "model"), cfg, w, {
                    "trainer_commit": meta["commit"], "step": step, "val_nats_per_byte": val,
                    "tokens_seen": tokens_seen})
            log.write(json.dumps({"step": step, "val_nats_per_byte": val,
                                  "best": improved, "elapsed_s": time.time() - t_start}) + "\n")
            log.flush()
            say(f"step {step:5d}  val {val:.4f} nats/byte{'  (best)' if improved else ''}")
    elapsed = time.time() - t_start
    summary = {"best_val_nats_per_byte": best, "best_step": best_step, "steps": step,
               "tokens_seen": tokens_seen, "train_seconds": elapsed,
               "tokens_per_s": tokens_seen / elapsed, **meta}
    log.close()
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    say(f"done: {step} steps, {tokens_seen} tokens in {elapsed:.0f} s; best val "
        f"{best:.4f} nats/byte at step {best_step}")
    return summary


if __name__ == "__main__":
    train(parse_args(sys.argv[1:]))
