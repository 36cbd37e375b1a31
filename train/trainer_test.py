#!/usr/bin/python3
"""The trainer's forward is MODEL.md's forward (issue 10, part 2).

  * float64, chunk and span forms, state carried over windows: equal to the
    oracle (tests/oracle/hecate_ref.py) on the committed golden configs
    (2, 3 and 4 levels, a start pulse in the billions) within 1e-10 on
    logits, also the final state;
  * float64 gradients of the chunk/span forms equal the token loop's within
    1e-10 (weights and the carried initial state, streams at other pulses);
  * float32 within MODEL.md section 6's 1e-4 of the float64 oracle;
  * a few optimizer steps on a small config lower the loss;
  * an exported model folder reads back bit for bit, in the oracle too.

Random draws print their seed; HECATE_TEST_SEED replays one.
Run: /usr/bin/python3 train/trainer_test.py
"""

import json
import os
import random
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.realpath(__file__))
ORACLE = os.path.join(HERE, "..", "tests", "oracle")
sys.path.insert(0, HERE)
sys.path.insert(0, ORACLE)
import hecate_ref as ref  # noqa: E402
import hecatelm as hl  # noqa: E402
import model_io  # noqa: E402
import train as trainer  # noqa: E402

SEED = int(os.environ.get("HECATE_TEST_SEED", random.SystemRandom().randrange(1 << 31)))
print(f"HECATE_TEST_SEED={SEED}", flush=True)
GOLDEN_CASES = ("small", "odd", "four_levels", "late_pulse")


def rel(a, b):
    return ref.relative_error(a, b)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def golden(case):
    folder = os.path.join(ORACLE, "goldens", case)
    cfg = hl.Config.from_json(read(os.path.join(folder, "config.json")))
    weights, _ = model_io.read_safetensors(os.path.join(folder, "model.safetensors"))
    meta = json.loads(read(os.path.join(folder, "meta.json")))
    data = read(os.path.join(folder, "input.bin"), "rb")
    return cfg, {n: t.double() for n, t in weights.items()}, meta["start_pulse_id"], data


def oracle_run(cfg, weights, data, start_pulse, dtype=torch.float64):
    ocfg = ref.Config(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.window,
                      list(cfg.periods), cfg.d_ff)
    state = ref.zero_state(ocfg, dtype)
    logits = ref.forward(ocfg, weights, state, data, start_pulse, dtype=dtype)
    return logits, state


def trainer_run(cfg, weights, data, start_pulse, cuts, dtype=torch.float64, chunk=16):
    """The trainer's forward over data split at `cuts`, state carried."""
    tokens = torch.tensor(list(data))[None]
    state = hl.State.zeros(cfg, 1, dtype, pulse=start_pulse)
    w = {n: t.to(dtype) for n, t in weights.items()}
    pieces = []
    for a, b in zip([0] + cuts, cuts + [len(data)]):
        logits, state = hl.forward(cfg, w, tokens[:, a:b], state, chunk=chunk)
        pieces.append(logits[0])
    return torch.cat(pieces), state


def state_errors(cfg, state, oracle_state):
    errors = {}
    for name, expected in oracle_state.items():
        got = state.ring(cfg, name) if ".attn." in name else state.tensors[name][0]
        errors[name] = rel(got, expected)
    return errors


class ForwardEqualsOracle(unittest.TestCase):
    def test_float64_golden_configs(self):
        rng = random.Random(SEED)
        for case in GOLDEN_CASES:
            cfg, weights, start, data = golden(case)
            want_logits, want_state = oracle_run(cfg, weights, data, start)
            cuts = sorted(rng.sample(range(1, len(data)), 2))
            logits, state = trainer_run(cfg, weights, data, start, cuts,
                                        chunk=rng.choice([8, 16, 64]))
            err = rel(logits, want_logits)
            worst_state = max(state_errors(cfg, state, want_state).values())
            print(f"{case}: windows cut at {cuts}, logits {err:.1e}, state {worst_state:.1e}")
            self.assertLess(err, 1e-10, case)
            self.assertLess(worst_state, 1e-10, case)
            self.assertEqual(int(state.pulse[0]), start + len(data))

    def test_float32_within_model_tolerance(self):
        for case in ("odd", "late_pulse"):
            cfg, weights, start, data = golden(case)
            want_logits, want_state = oracle_run(cfg, weights, data, start)
            logits, state = trainer_run(cfg, weights, data, start, [200], dtype=torch.float32,
                                        chunk=64)
            errors = state_errors(cfg, state, want_state)
            errors["logits"] = rel(logits, want_logits)
            worst = max(errors, key=errors.get)
            print(f"{case} float32: worst {worst} {errors[worst]:.1e}")
            self.assertLess(errors[worst], 1e-4, f"{case} {worst}")

    def test_forms_are_sensitive(self):
        """Weights 1% off in one gate bias fail the 1e-10 check by far: the
        check can fail."""
        cfg, weights, start, data = golden("small")
        want, _ = oracle_run(cfg, weights, data[:100], start)
        broken = dict(weights)
        broken["layers.0.mem.bgate"] = weights["layers.0.mem.bgate"] * 1.01
        logits, _ = trainer_run(cfg, broken, data[:100], start, [])
        self.assertGreater(rel(logits, want), 1e-6)


def random_weights(cfg, seed):
    ocfg = ref.Config(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.window,
                      list(cfg.periods), cfg.d_ff)
    return ref.init_weights(ocfg, seed)


class GradientsEqualTokenLoop(unittest.TestCase):
    def test_float64_gradients(self):
        cfg = hl.Config(256, 24, 2, 2, 12, (1, 4, 16), 40)
        gen = torch.Generator().manual_seed(SEED)
        weights = random_weights(cfg, SEED % 100000)
        # Two streams at different pulses with the same phase mod 16, from a
        # random carried state; T = 37: no multiple of the chunk or a period.
        pulses = torch.tensor([16 * 5 + 7, 7])
        tokens = torch.randint(0, 256, (2, 37), generator=gen)
        init = hl.State.zeros(cfg, 2, torch.float64)
        init = hl.State({n: torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.3
                         for n, t in init.tensors.items()}, pulses)
        for l in range(cfg.n_layers):  # a period-1 level has no momentum
            init.tensors[f"layers.{l}.level0.S"].zero_()
        # The second stream starts at pulse 7 < W: its never-written slots are zero.
        for name in init.tensors:
            if ".attn." in name:
                init.tensors[name][1, :, : cfg.window - 7] = 0

        def grads(token_loop):
            w = {n: t.clone().requires_grad_() for n, t in weights.items()}
            s = hl.State({n: t.clone().requires_grad_() for n, t in init.tensors.items()},
                         pulses.clone())
            logits, out = hl.forward(cfg, w, tokens, s, chunk=8, token_loop=token_loop)
            loss = hl.next_byte_loss(logits[:, :-1], tokens[:, 1:])
            for t in out.tensors.values():  # the carried state's gradient paths too
                loss = loss + 0.01 * (t * t).sum()
            params = list(w.values()) + list(s.tensors.values())
            return torch.autograd.grad(loss, params, allow_unused=True), loss

        fast, loss_fast = grads(False)
        slow, loss_slow = grads(True)
        self.assertLess(abs(float(loss_fast - loss_slow)), 1e-10 * abs(float(loss_slow)))
        names = list(weights) + ["state." + n for n in init.tensors]
        worst = 0.0
        for name, a, b in zip(names, fast, slow):
            if b is None or float(b.norm()) == 0:
                self.assertTrue(a is None or float(a.norm()) == 0, name)
                continue
            err = rel(a, b)
            worst = max(worst, err)
            self.assertLess(err, 1e-10, name)
        print(f"gradients, chunk/span vs token loop: worst rel err {worst:.1e}")


class Training(unittest.TestCase):
    def test_steps_lower_the_loss(self):
        text = read(os.path.join(HERE, "..", "data", "tinyshakespeare.txt"), "rb")
        with tempfile.TemporaryDirectory() as out:
            args = trainer.parse_args([
                "--out", out, "--steps", "30", "--batch", "8", "--window", "64",
                "--lr", "3e-3", "--warmup", "5", "--eval_every", "30", "--log_every", "10",
                "--device", "cpu", "--seed", str(SEED % 100000), "--quiet"])
            cfg = hl.Config(256, 32, 2, 2, 32, (1, 8), 64)
            summary = trainer.train(args, cfg=cfg, text=text[:200000])
            records = [json.loads(line) for line in
                       read(os.path.join(out, "train_log.jsonl")).splitlines()]
            losses = [r["loss"] for r in records if "loss" in r]
            print(f"training losses {['%.3f' % x for x in losses]}, val "
                  f"{summary['best_val_nats_per_byte']:.3f}")
            self.assertLess(losses[-1], losses[0] - 0.5)
            self.assertLess(summary["best_val_nats_per_byte"], 5.0)
            gates = [r["gates"] for r in records if "gates" in r]
            self.assertTrue(all(0 < g["alpha1"] < 1 for g in gates))
            self.assertTrue(all(len(r["level_grad_norms"]) == 2 and r["level_grad_norms"][1] > 0
                                for r in records if "level_grad_norms" in r))
            cfg2, w, meta = model_io.load_model(os.path.join(out, "model"))
            self.assertEqual(cfg2, cfg)
            self.assertEqual(int(meta["step"]), summary["best_step"])


class Export(unittest.TestCase):
    def test_round_trip_and_oracle_reads_it(self):
        cfg = hl.Config(256, 32, 2, 2, 32, (1, 8), 64)
        weights = hl.init_weights(cfg, torch.Generator().manual_seed(SEED))
        with tempfile.TemporaryDirectory() as out:
            model_io.save_model(out, cfg, weights, {"step": 3})
            cfg2, w2, meta = model_io.load_model(out)
            self.assertEqual(cfg2, cfg)
            self.assertEqual(meta, {"step": "3"})
            for n, t in weights.items():
                self.assertTrue(torch.equal(w2[n], t), n)
            ocfg, ow = ref.load_model(out)
            self.assertEqual(ocfg.periods, list(cfg.periods))
            for n, t in weights.items():
                self.assertTrue(torch.equal(ow[n].float(), t), n)


if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main(verbosity=2)
