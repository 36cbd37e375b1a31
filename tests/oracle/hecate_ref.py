#!/usr/bin/python3
"""HecateLM oracle: docs/MODEL.md section 2 in plain PyTorch, float64.

Written from the spec, token by token, for clarity over speed. The C++ CPU
reference and the CUDA backend are compared against the golden files this
script writes (see README.md in this folder).

The project's reading of the two normalisations MODEL.md names with eps 1e-6:
    rmsnorm(x) = x / sqrt(mean(x^2) + 1e-6)
    l2norm(x)  = x / sqrt(sum(x^2) + 1e-6)        (per head, over d)
silu(x) = x * sigmoid(x). Heads are contiguous slices: head h of a D-vector is
elements [h*d, (h+1)*d). split(x) of a 3D-vector is [x[:D], x[D:2D], x[2D:]].

Commands (run with /usr/bin/python3, which has torch):
    hecate_ref.py write-goldens OUT_DIR [--cases a,b] [--tokens N] [--seed S]
    hecate_ref.py run-model MODEL_DIR INPUT_BIN OUT_SAFETENSORS [--start-pulse P]
    hecate_ref.py selfcheck [--seed S]
"""

import argparse
import dataclasses
import json
import math
import os
import sys
from typing import Dict, List, Optional

try:
    import torch
except ImportError:  # Debian's python3-torch is optional on dev machines.
    torch = None

RMS_EPS = 1e-6
L2_EPS = 1e-6
ROPE_BASE = 10000.0


# ----------------------------------------------------------------- config ---

@dataclasses.dataclass
class Config:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    window: int
    periods: List[int]
    d_ff: int

    @property
    def head_dim(self):
        return self.d_model // self.n_heads

    @property
    def levels(self):
        return len(self.periods)

    @property
    def memory_scale(self):
        return 1.0 / math.sqrt(self.levels) if self.levels > 2 else 1.0

    def validate(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "window", "d_ff"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"config: {name} must be a positive integer")
        if self.d_model % self.n_heads or self.head_dim % 2:
            raise ValueError("config: d_model / n_heads must be an even integer")
        if not self.periods or self.periods[0] < 1:
            raise ValueError("config: periods must be non-empty and >= 1")
        for a, b in zip(self.periods, self.periods[1:]):
            if b <= a or b % a:
                raise ValueError("config: periods must increase, each dividing the next")
        return self

    def to_json(self):
        return json.dumps({
            "model_type": "hecate", "vocab_size": self.vocab_size,
            "d_model": self.d_model, "n_layers": self.n_layers,
            "n_heads": self.n_heads, "window": self.window,
            "periods": list(self.periods), "d_ff": self.d_ff}, indent=1) + "\n"

    @staticmethod
    def from_json(text):
        obj = json.loads(text)
        if obj.get("model_type") != "hecate":
            raise ValueError(f"config: model_type {obj.get('model_type')!r} is not 'hecate'")
        try:
            return Config(obj["vocab_size"], obj["d_model"], obj["n_layers"],
                          obj["n_heads"], obj["window"], list(obj["periods"]),
                          obj["d_ff"]).validate()
        except KeyError as e:
            raise ValueError(f"config: missing key {e}") from e


def weight_shapes(cfg):
    """Ordered {name: shape} of MODEL.md section 5."""
    D, F, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    gates = 3 * cfg.levels * cfg.n_heads
    shapes = {"embed": [V, D]}
    for l in range(cfg.n_layers):
        p = f"layers.{l}."
        shapes.update({
            p + "norm1": [D], p + "norm2": [D],
            p + "attn.wqkv": [D, 3 * D], p + "mem.wqkv": [D, 3 * D],
            p + "mem.wgate": [D, gates], p + "mem.bgate": [gates],
            p + "wo": [D, D],
            p + "mlp.w1": [D, F], p + "mlp.w3": [D, F], p + "mlp.w2": [F, D]})
    shapes["norm_f"] = [D]
    return shapes


def state_shapes(cfg, window=None):
    """Ordered {name: shape} of the session state (runtime/model_state.h order)."""
    H, d, W = cfg.n_heads, cfg.head_dim, window or cfg.window
    shapes = {}
    for l in range(cfg.n_layers):
        for j, period in enumerate(cfg.periods):
            shapes[f"layers.{l}.level{j}.M"] = [H, d, d]
            shapes[f"layers.{l}.level{j}.S"] = [H, d, d]
            if period > 1:
                shapes[f"layers.{l}.level{j}.G"] = [H, d, d]
        shapes[f"layers.{l}.attn.k"] = [H, W, d]
        shapes[f"layers.{l}.attn.v"] = [H, W, d]
    return shapes


def zero_state(cfg, dtype=None, window=None):
    dtype = dtype or torch.float64
    return {n: torch.zeros(s, dtype=dtype) for n, s in state_shapes(cfg, window).items()}


# ------------------------------------------------------------ the spec math ---

def rmsnorm(x):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + RMS_EPS)


def l2norm(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + L2_EPS)


def silu(x):
    return x * torch.sigmoid(x)


def rope(x, pulse_id, base=ROPE_BASE):
    """Rotate-half RoPE of x [H, d] at absolute position pulse_id.

    Angles are formed in float64 from the exact integer pulse id (it reaches
    billions; float32 would lose whole radians) and only then cast.
    """
    d = x.shape[-1]
    i = torch.arange(d // 2, dtype=torch.float64)
    inv_freq = torch.pow(torch.tensor(float(base), dtype=torch.float64), -2.0 * i / d)
    angle = float(pulse_id) * inv_freq
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def matvec(M, x):
    """Per head: M [H, d, d] ("value x key") times x [H, d] -> [H, d]."""
    return torch.einsum("hij,hj->hi", M, x)


def outer(a, b):
    return a[:, :, None] * b[:, None, :]


def memory_level_step(M, S, G, k, v, q, alpha, theta, eta, period, pulse_id):
    """One token of one CMS level, all heads. alpha/theta/eta: [H] scalars.

    Returns (M, S, G, y) with y = M q read after any update at this token.
    G is None for period 1 (that level has no error buffer; S stays zero).
    """
    a, th, et = alpha[:, None, None], theta[:, None, None], eta[:, None, None]
    if period == 1:                          # gated delta rule
        M = a * M
        M = M - th * outer(matvec(M, k) - v, k)
    else:                                    # Titans memory with momentum
        G = G + (th / period) * outer(matvec(M, k) - v, k)
        if (pulse_id + 1) % period == 0:     # the pulse fires this level
            S = et * S - G
            M = a * M + S
            G = torch.zeros_like(G)
    return M, S, G, matvec(M, q)


@dataclasses.dataclass
class Knobs:
    """Deliberate deviations from the spec, used only by selfcheck to prove the
    goldens are sensitive to each coefficient. Defaults are the spec."""
    rope_base: float = ROPE_BASE
    window: Optional[int] = None              # None: cfg.window
    memory_scale: Optional[float] = None      # None: cfg.memory_scale
    theta_scale: Dict[int, float] = dataclasses.field(default_factory=dict)
    eta_scale: Dict[int, float] = dataclasses.field(default_factory=dict)


def forward(cfg, weights, state, tokens, start_pulse=0, knobs=None, dtype=None):
    """Runs tokens (ints 0..255) from pulse id start_pulse; state is updated in
    place. Returns logits [T, V]."""
    knobs = knobs or Knobs()
    dtype = dtype or torch.float64
    H, d, D, W = cfg.n_heads, cfg.head_dim, cfg.d_model, knobs.window or cfg.window
    c = cfg.memory_scale if knobs.memory_scale is None else knobs.memory_scale
    theta_scale = torch.ones(cfg.levels, 1, dtype=dtype)
    eta_scale = torch.ones(cfg.levels, 1, dtype=dtype)
    for j, s in knobs.theta_scale.items():
        theta_scale[j] = s
    for j, s in knobs.eta_scale.items():
        eta_scale[j] = s
    w = {n: t.to(dtype) for n, t in weights.items()}
    for n, t in state.items():
        state[n] = t.to(dtype)
    logits = torch.empty(len(tokens), cfg.vocab_size, dtype=dtype)
    for t, token in enumerate(tokens):
        p = start_pulse + t
        h = w["embed"][int(token)]
        for l in range(cfg.n_layers):
            pre = f"layers.{l}."
            u = rmsnorm(h) * w[pre + "norm1"]
            # Sliding-window attention; position p lives in ring slot p % W.
            qa, ka, va = (u @ w[pre + "attn.wqkv"]).view(3, H, d)
            qa, ka = rope(qa, p, knobs.rope_base), rope(ka, p, knobs.rope_base)
            K, Vw = state[pre + "attn.k"], state[pre + "attn.v"]
            K[:, p % W], Vw[:, p % W] = ka, va
            # The last min(W, p+1) positions: all W slots once the ring is full,
            # else exactly slots 0..p.
            n = min(W, p + 1)
            scores = torch.einsum("hd,hwd->hw", qa, K[:, :n]) / math.sqrt(d)
            attn = torch.einsum("hw,hwd->hd", torch.softmax(scores, dim=-1), Vw[:, :n])
            # Memory branch (CMS).
            qm, km, vm = (u @ w[pre + "mem.wqkv"]).view(3, H, d)
            q, k, v = l2norm(silu(qm)), l2norm(silu(km)), silu(vm)
            z = (u @ w[pre + "mem.wgate"] + w[pre + "mem.bgate"]).view(3, cfg.levels, H)
            alpha = torch.sigmoid(z[0])
            theta = torch.sigmoid(z[1]) * theta_scale
            eta = torch.sigmoid(z[2]) * eta_scale
            m = torch.zeros(H, d, dtype=dtype)
            for j, period in enumerate(cfg.periods):
                lv = f"{pre}level{j}."
                M, S, G, y = memory_level_step(
                    state[lv + "M"], state[lv + "S"], state.get(lv + "G"), k, v, q,
                    alpha[j], theta[j], eta[j], period, p)
                state[lv + "M"], state[lv + "S"] = M, S
                if period > 1:
                    state[lv + "G"] = G
                m = m + y
            m = c * m
            h = h + (attn * torch.sigmoid(m)).reshape(D) @ w[pre + "wo"]  # MAG
            u2 = rmsnorm(h) * w[pre + "norm2"]
            h = h + (silu(u2 @ w[pre + "mlp.w1"]) * (u2 @ w[pre + "mlp.w3"])) @ w[pre + "mlp.w2"]
        logits[t] = (rmsnorm(h) * w["norm_f"]) @ w["embed"].T
    return logits


def relative_error(a, b):
    """MODEL.md section 6: ||a - b|| / ||b|| (Frobenius), float64."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    nb = torch.linalg.norm(b)
    if nb == 0:
        return 0.0 if torch.linalg.norm(a) == 0 else math.inf
    return float(torch.linalg.norm(a - b) / nb)


# ------------------------------------------------------------------ weights ---

# Chosen so the memory branch is prominent: removing it moves logits ~20%, and
# a 10% change of one level's theta or eta moves them > 1e-3 (selfcheck).
GOLDEN_GAINS = {"embed": 0.3, "wqkv_attn": 1.0, "wqkv_mem": 3.0, "wo": 3.0, "mlp": 1.0,
                "wgate": 1.5}


def init_weights(cfg, seed, style="golden", gains=None):
    """Random weights, rounded to float32 (what the model file holds), as float64.

    style "fresh" is MODEL.md section 5's fresh-model init (std 0.02, norms 1,
    gate biases 3.0 / -4.6 / 2.2). style "golden" makes every branch visible in
    the logits: std gain/sqrt(fan_in) (GOLDEN_GAINS), norms ~ 1 + 0.1 N, and
    per (level, head) gate biases uniform in [-2.2, 2.2] which, with the
    input-dependent part, spread alpha, theta, eta over (0.05, 0.95).
    """
    gen = torch.Generator().manual_seed(seed)
    gains = dict(GOLDEN_GAINS, **(gains or {}))

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float64) * std

    w = {}
    for name, shape in weight_shapes(cfg).items():
        leaf = name.rsplit(".", 1)[-1] if name.startswith("layers.") else name
        if leaf in ("norm1", "norm2", "norm_f"):
            w[name] = torch.ones(shape, dtype=torch.float64)
            if style == "golden":
                w[name] = w[name] + normal(shape, 0.1)
        elif leaf == "bgate":
            g = cfg.levels * cfg.n_heads
            if style == "golden":
                w[name] = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * 2.2
            else:
                w[name] = torch.tensor([3.0] * g + [-4.6] * g + [2.2] * g, dtype=torch.float64)
        elif style == "fresh":
            w[name] = normal(shape, 0.02)
        elif leaf == "embed":
            w[name] = normal(shape, gains["embed"])
        else:
            key = {"wqkv": "wqkv_" + name.split(".")[2], "w1": "mlp", "w2": "mlp", "w3": "mlp"}
            w[name] = normal(shape, gains[key.get(leaf, leaf)] / math.sqrt(shape[0]))
    return {n: t.to(torch.float32).to(torch.float64) for n, t in w.items()}


# --------------------------------------------------------------- model I/O ---

def _io():
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    import safetensors_io
    return safetensors_io


def save_model(model_dir, cfg, weights):
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        f.write(cfg.to_json())
    _io().write(os.path.join(model_dir, "model.safetensors"), weights, "F32")


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config.from_json(f.read())
    weights = _io().read(os.path.join(model_dir, "model.safetensors"))
    for name, shape in weight_shapes(cfg).items():
        if name not in weights:
            raise ValueError(f"{model_dir}/model.safetensors: missing tensor {name}")
        if list(weights[name].shape) != shape:
            raise ValueError(f"{model_dir}/model.safetensors: tensor {name} has shape "
                             f"{list(weights[name].shape)}, config wants {shape}")
        if not torch.isfinite(weights[name]).all():
            raise ValueError(f"{model_dir}/model.safetensors: tensor {name} is not finite")
    return cfg, {n: weights[n] for n in weight_shapes(cfg)}


def write_expected(path, logits, state):
    tensors = {"logits": logits}
    tensors.update(state)
    _io().write(path, tensors, "F32")


# ------------------------------------------------------------------ goldens ---

# Each case: config, weight seed offset, start pulse id. `commit` cases are
# small enough to live in tests/oracle/goldens/; `tiny` is generated live.
CASES = {
    "tiny": dict(cfg=Config(256, 256, 4, 4, 128, [1, 8], 704), seed=1, commit=False),
    "small": dict(cfg=Config(256, 32, 2, 4, 64, [1, 8], 64), seed=2, commit=True),
    "odd": dict(cfg=Config(256, 60, 2, 3, 40, [1, 4, 16], 120), seed=3, commit=True),
    "four_levels": dict(cfg=Config(256, 32, 2, 2, 24, [1, 2, 8, 32], 96), seed=4, commit=True),
    # Starts at a pulse id in the billions, aligned to every period: RoPE
    # angles must be formed in float64 (float32 cannot even hold the id).
    "late_pulse": dict(cfg=Config(256, 32, 2, 2, 48, [1, 8, 64], 64), seed=5, commit=True,
                       start_pulse=3 * 2**32 + 64 * 12345),
}
DEFAULT_TOKENS = 517  # >= 512 and not a multiple of any period: every G is non-zero.


def text_path():
    here = os.path.dirname(os.path.realpath(__file__))
    candidates = [os.environ.get("HECATE_TEXT", ""),
                  os.path.join(here, "..", "..", "..", "shared", "data", "tinyshakespeare.txt")]
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def input_tokens(count, seed):
    """Real text at a random offset when tinyshakespeare.txt is there, else
    random bytes. Deterministic for a seed."""
    gen = torch.Generator().manual_seed(seed)
    path = text_path()
    if path:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) > count:
            start = int(torch.randint(0, len(data) - count, (1,), generator=gen))
            return data[start:start + count]
    return bytes(torch.randint(0, 256, (count,), generator=gen).tolist())


def make_case(name, base_seed=0):
    case = CASES[name]
    cfg = case["cfg"].validate()
    seed = 1000 * base_seed + case["seed"]
    return cfg, init_weights(cfg, seed), case.get("start_pulse", 0), seed


def run_and_write(cfg, weights, tokens, start_pulse, out_path):
    state = zero_state(cfg)
    logits = forward(cfg, weights, state, tokens, start_pulse)
    for n, t in state.items():
        if not torch.isfinite(t).all():
            raise RuntimeError(f"state {n} is not finite")
    write_expected(out_path, logits, state)
    return logits, state


def write_goldens(out_dir, names, tokens, base_seed, check_f32=True):
    for name in names:
        cfg, weights, start_pulse, seed = make_case(name, base_seed)
        case_dir = os.path.join(out_dir, name)
        save_model(case_dir, cfg, weights)
        data = input_tokens(tokens, seed)
        with open(os.path.join(case_dir, "input.bin"), "wb") as f:
            f.write(data)
        logits, state = run_and_write(cfg, weights, data, start_pulse,
                                      os.path.join(case_dir, "expected.safetensors"))
        meta = {"case": name, "tokens": len(data), "start_pulse_id": start_pulse,
                "final_pulse_id": start_pulse + len(data), "tolerance": 1e-4,
                "seed": seed, "config": json.loads(cfg.to_json())}
        with open(os.path.join(case_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        summary = f"{name}: {len(data)} tokens, start pulse {start_pulse}"
        if check_f32:  # How far a float32 implementation of the spec lands.
            s32 = zero_state(cfg, torch.float32)
            l32 = forward(cfg, weights, s32, data, start_pulse, dtype=torch.float32)
            worst = max([relative_error(l32, logits)] +
                        [relative_error(s32[n], state[n]) for n in state])
            summary += f", float32 oracle vs float64: worst rel err {worst:.2e}"
        print(summary, flush=True)


# ---------------------------------------------------------------------- CLI ---

def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("write-goldens", help="write golden case folders")
    g.add_argument("out_dir")
    g.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {','.join(CASES)}; 'committed' "
                        "for the ones kept in goldens/")
    g.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    g.add_argument("--seed", type=int, default=0, help="base seed (0: committed goldens)")
    g.add_argument("--no-f32-check", action="store_true")
    r = sub.add_parser("run-model", help="run a model folder on an input")
    r.add_argument("model_dir")
    r.add_argument("input_bin")
    r.add_argument("out_safetensors")
    r.add_argument("--start-pulse", type=int, default=0)
    s = sub.add_parser("selfcheck", help="prove the oracle and goldens sensitive")
    s.add_argument("--seed", type=int, default=None, help="default: fresh random")
    s.add_argument("--quick", action="store_true", help="fewer tokens (for bazel test)")
    s.add_argument("--probe-stability", action="store_true",
                   help="only print memory growth with all gates near 1 (not a check)")
    args = parser.parse_args(argv)

    if torch is None:
        if args.command == "selfcheck":
            print("SKIPPED: python3-torch not importable")
            return 0
        print("error: python3-torch is not importable; use /usr/bin/python3", file=sys.stderr)
        return 2
    # One thread: the oracle's matrices are small, and under bazel test two
    # oracle processes share the 2-core CI machine.
    torch.set_num_threads(1)

    if args.command == "write-goldens":
        names = ([n for n, c in CASES.items() if c["commit"]] if args.cases == "committed"
                 else [n for n in args.cases.split(",") if n])
        unknown = [n for n in names if n not in CASES]
        if unknown:
            parser.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
        if args.tokens < 1:
            parser.error("--tokens must be positive")
        write_goldens(args.out_dir, names, args.tokens, args.seed, not args.no_f32_check)
    elif args.command == "run-model":
        cfg, weights = load_model(args.model_dir)
        with open(args.input_bin, "rb") as f:
            data = f.read()
        run_and_write(cfg, weights, data, args.start_pulse, args.out_safetensors)
        print(f"{args.out_safetensors}: {len(data)} tokens, final pulse id "
              f"{args.start_pulse + len(data)}")
    else:
        sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
        import selfcheck
        return selfcheck.run(sys.modules[__name__], args.seed, args.quick, args.probe_stability)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, ValueError) as e:  # bad model folder, input or config
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
