#!/usr/bin/python3
"""Trainer side of //train:hecated_parity_test.

    hecated_parity.py train OUT_MODEL TEXT       trains a small config a few steps, exports it
    hecated_parity.py score MODEL TEXT WINDOW    prints the trainer's nats/byte of TEXT as JSON
                                                 (WINDOW 0: one carried stream, else fresh windows)
"""

import json
import os
import random
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import hecatelm as hl  # noqa: E402
import train as trainer  # noqa: E402
from evaluate import eval_fresh_windows, stream_losses  # noqa: E402
from model_io import load_model  # noqa: E402


def main(argv):
    torch.set_num_threads(1)
    if argv[0] == "train":
        out, text_path = argv[1], argv[2]
        seed = int(os.environ.get("HECATE_TEST_SEED", random.SystemRandom().randrange(1 << 31)))
        print(f"HECATE_TEST_SEED={seed}", flush=True)
        with open(text_path, "rb") as f:
            text = f.read()
        # Three levels, periods that do not divide the chunk sizes hecated uses.
        cfg = hl.Config(256, 48, 2, 2, 24, (1, 4, 16), 96)
        with tempfile.TemporaryDirectory() as work:
            args = trainer.parse_args([
                "--out", work, "--steps", "40", "--batch", "8", "--window", "64",
                "--lr", "3e-3", "--warmup", "5", "--eval_every", "1000", "--device", "cpu",
                "--seed", str(seed % 100000), "--quiet"])
            trainer.train(args, cfg=cfg, text=text[:300000])
            os.replace(os.path.join(work, "model"), out)
        return 0
    model_dir, text_path, window = argv[1], argv[2], int(argv[3])
    cfg, weights, _ = load_model(model_dir)
    with open(text_path, "rb") as f:
        data = f.read()
    if window:
        total, count = eval_fresh_windows(cfg, weights, data, window)
        nats = total / count
    else:
        losses = stream_losses(cfg, weights, data, chunk=512)
        count, nats = losses.numel(), float(losses.double().mean())
    print(json.dumps({"nats_per_byte": nats, "scored_bytes": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
