"""HecateLM in training form: docs/MODEL.md section 2 over batches of windows.

The forward pass the daemon serves, written for autograd and for speed on
whole windows instead of single tokens (MODEL.md allows any form that equals
the token loop; train/README.md and ../shared/spec/TRAINING-NOTES.md give the
algebra):

  * level 1 (period 1), the gated delta rule, in chunked WY/UT form: per chunk
    of C tokens one unit lower-triangular solve, then T/C sequential steps of
    the state h = M^T;
  * slower levels span by span: between fire points M is constant, so the
    error-buffer sums and the reads are matrix products; T/p sequential steps;
  * sliding-window attention over the window plus the carried W keys/values.

`token_loop=True` runs both memories token by token instead (the plain
recurrence of MODEL.md); the parity tests prove the two forms equal, values and
gradients.

A batch is B streams of T tokens each. Every stream carries its own state and
pulse id (`State`), so consecutive windows of one stream continue exactly where
the previous ended (truncated BPTT: the caller detaches the state between
windows); a zero State at pulse 0 is a fresh session. The slow levels need
every stream of a batch at the same phase (pulse id mod each period), which
holds when streams start at multiples of the largest period and windows are a
multiple of it long.

Weights are a dict {MODEL.md section 5 name: tensor}; the computation runs in
their dtype (float64 for the parity tests, float32 to train and serve).
"""

import dataclasses
import json
import math
from typing import Dict, List

import torch
import torch.nn.functional as F

RMS_EPS = 1e-6
L2_EPS = 1e-6
ROPE_BASE = 10000.0


# ------------------------------------------------------------------ config ---

@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    window: int
    periods: tuple
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
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"config: {name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads or self.head_dim % 2:
            raise ValueError("config: d_model / n_heads must be an even integer")
        if not self.periods or self.periods[0] != 1:
            raise ValueError("config: periods must start with 1 (the delta-rule level)")
        for a, b in zip(self.periods, self.periods[1:]):
            if b <= a or b % a:
                raise ValueError("config: periods must increase, each dividing the next")
        return self

    def to_dict(self):
        return {"model_type": "hecate", "vocab_size": self.vocab_size,
                "d_model": self.d_model, "n_layers": self.n_layers,
                "n_heads": self.n_heads, "window": self.window,
                "periods": list(self.periods), "d_ff": self.d_ff}

    @staticmethod
    def from_dict(obj):
        if obj.get("model_type") != "hecate":
            raise ValueError(f"config: model_type {obj.get('model_type')!r} is not 'hecate'")
        try:
            return Config(obj["vocab_size"], obj["d_model"], obj["n_layers"], obj["n_heads"],
                          obj["window"], tuple(obj["periods"]), obj["d_ff"]).validate()
        except KeyError as e:
            raise ValueError(f"config: missing key {e}") from e

    @staticmethod
    def from_json(text):
        return Config.from_dict(json.loads(text))


# MODEL.md section 1.
NAMED_CONFIGS = {
    "tiny": Config(256, 256, 4, 4, 128, (1, 8), 704),
    "base": Config(256, 1024, 12, 8, 512, (1, 8, 64, 512), 2752),
}


def weight_shapes(cfg) -> Dict[str, List[int]]:
    """Ordered {name: shape} of MODEL.md section 5."""
    D, F_, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    gates = 3 * cfg.levels * cfg.n_heads
    shapes = {"embed": [V, D]}
    for l in range(cfg.n_layers):
        p = f"layers.{l}."
        shapes.update({
            p + "norm1": [D], p + "norm2": [D],
            p + "attn.wqkv": [D, 3 * D], p + "mem.wqkv": [D, 3 * D],
            p + "mem.wgate": [D, gates], p + "mem.bgate": [gates],
            p + "wo": [D, D],
            p + "mlp.w1": [D, F_], p + "mlp.w3": [D, F_], p + "mlp.w2": [F_, D]})
    shapes["norm_f"] = [D]
    return shapes


def init_weights(cfg, generator, std=0.02, residual_scaling=True):
    """MODEL.md section 5's fresh model: normal(0, std), norms 1, gate biases
    alpha ~ 0.95, theta ~ 0.01, eta ~ 0.9. With residual_scaling the two
    projections that write into the residual stream (wo, mlp.w2) get std /
    sqrt(2 L), as GPT-2 does, so a deep stack starts near the identity."""
    weights = {}
    g = cfg.levels * cfg.n_heads
    for name, shape in weight_shapes(cfg).items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("norm1", "norm2", "norm_f"):
            weights[name] = torch.ones(shape)
        elif leaf == "bgate":
            weights[name] = torch.tensor([3.0] * g + [-4.6] * g + [2.2] * g)
        else:
            scale = std
            if residual_scaling and leaf in ("wo", "w2"):
                scale = std / math.sqrt(2 * cfg.n_layers)
            weights[name] = torch.randn(shape, generator=generator) * scale
    return weights


# ------------------------------------------------------------------- state ---

class State:
    """The carried state of B streams, in the canonical names of
    tests/oracle (MODEL.md section 3) with a batch dimension first:
    `layers.{l}.level{j}.M|S|G` [B, H, d, d] (M is value x key; G only for
    p_j > 1) and `layers.{l}.attn.k|v` [B, H, W, d] holding positions
    pulse-W .. pulse-1 in order (the ring of MODEL.md, unrolled). `pulse` is
    an int64 tensor [B]: the pulse id of each stream's next token."""

    def __init__(self, tensors: Dict[str, torch.Tensor], pulse: torch.Tensor):
        self.tensors = tensors
        self.pulse = pulse

    @staticmethod
    def zeros(cfg, batch, dtype=torch.float32, device="cpu", pulse=0):
        H, d, W = cfg.n_heads, cfg.head_dim, cfg.window
        tensors = {}
        for l in range(cfg.n_layers):
            for j, period in enumerate(cfg.periods):
                names = ("M", "S", "G") if period > 1 else ("M", "S")
                for n in names:
                    tensors[f"layers.{l}.level{j}.{n}"] = torch.zeros(
                        batch, H, d, d, dtype=dtype, device=device)
            for n in ("k", "v"):
                tensors[f"layers.{l}.attn.{n}"] = torch.zeros(
                    batch, H, W, d, dtype=dtype, device=device)
        pulses = torch.full((batch,), int(pulse), dtype=torch.int64)
        return State(tensors, pulses)

    def detach(self):
        """The same state with the gradient cut (truncated BPTT)."""
        return State({n: t.detach() for n, t in self.tensors.items()}, self.pulse.clone())

    def reset(self, streams: torch.Tensor):
        """Zeroes the state of the streams where `streams` (bool [B]) is true
        and puts them back at pulse 0 (a fresh session)."""
        keep = (~streams).to(next(iter(self.tensors.values())).device)
        tensors = {n: t * keep.view(-1, *([1] * (t.dim() - 1))).to(t.dtype)
                   for n, t in self.tensors.items()}
        return State(tensors, torch.where(streams, torch.zeros_like(self.pulse), self.pulse))

    def ring(self, cfg, name, stream=0):
        """One stream's attention keys or values as MODEL.md's ring [H, W, d]:
        position p in slot p % W; positions before 0 stay zero."""
        W = cfg.window
        prefix = self.tensors[name][stream]
        out = torch.zeros_like(prefix)
        base = int(self.pulse[stream]) - W
        for j in range(W):
            if base + j >= 0:
                out[:, (base + j) % W] = prefix[:, j]
        return out


# --------------------------------------------------------------- the math ---

def rmsnorm(x):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + RMS_EPS)


def l2norm(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + L2_EPS)


def rope(x, positions):
    """Rotate-half RoPE of x [B, T, H, d] at integer positions [B, T]. The
    angles are formed in float64 from the exact pulse ids (they reach
    billions), exactly as the oracle forms them, and only then cast."""
    d = x.shape[-1]
    i = torch.arange(d // 2, dtype=torch.float64)
    inv_freq = torch.pow(torch.tensor(ROPE_BASE, dtype=torch.float64), -2.0 * i / d)
    angle = positions.to(torch.float64)[..., None] * inv_freq            # [B, T, d/2]
    cos = torch.cos(angle).to(x.dtype).to(x.device)[:, :, None, :]
    sin = torch.sin(angle).to(x.dtype).to(x.device)[:, :, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def window_attention(cfg, q, k, v, k_prev, v_prev, pulse):
    """Causal attention over the last min(W, p+1) positions. q, k, v
    [B, H, T, d] (after RoPE); k_prev, v_prev [B, H, W, d] the W positions
    before the window. Returns the output [B, H, T, d] and the next window's
    k_prev, v_prev."""
    B, H, T, d = q.shape
    W = cfg.window
    keys = torch.cat([k_prev, k], dim=2)                                  # [B, H, W+T, d]
    values = torch.cat([v_prev, v], dim=2)
    j = torch.arange(W + T, device=q.device)
    t = torch.arange(T, device=q.device)
    # Key j holds position pulse - W + j; query t is at pulse + t.
    band = (j[None, :] > t[:, None]) & (j[None, :] <= t[:, None] + W)      # [T, W+T]
    written = j[None, :] >= (W - pulse.to(q.device))[:, None]             # [B, W+T]
    allowed = band[None, :, :] & written[:, None, :]                       # [B, T, W+T]
    scores = torch.matmul(q, keys.transpose(-1, -2)) / math.sqrt(d)
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), values)
    return out, keys[:, :, -W:], values[:, :, -W:]


def delta_rule_chunked(M, q, k, v, log_alpha, theta, chunk):
    """Level 1 (gated delta rule) over T tokens in chunks of C tokens.

    M [B, H, d, d] (value x key); q, k, v [B, H, T, d]; log_alpha, theta
    [B, H, T]. Returns (M after the last token, Y [B, H, T, d]) with
    y_t = M_t q_t. With h = M^T and, inside a chunk, G_t = sum_{s<=t} log
    alpha_s, Gamma_ts = exp(G_t - G_s) (s <= t):
        A = strict_lower(diag(theta) K K^T * Gamma),  T = I + A
        U~ = T^-1 diag(theta) V,  W = T^-1 diag(theta e^G) K
        U = U~ - W h                   (row t: theta_t (v_t - M'_t k_t))
        O = diag(e^G) Q h + (Q K^T * Gamma) U
        h <- e^{G_C} h + (diag(e^{G_C - G}) K)^T U
    """
    B, H, T, d = q.shape
    C = min(chunk, T)
    pad = (-T) % C
    if pad:  # padding tokens: alpha = 1, theta = 0, k = q = 0: no effect
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        log_alpha, theta = F.pad(log_alpha, (0, pad)), F.pad(theta, (0, pad))
    N = (T + pad) // C
    q, k, v = (x.reshape(B, H, N, C, d) for x in (q, k, v))
    G = torch.cumsum(log_alpha.reshape(B, H, N, C), dim=-1)
    theta = theta.reshape(B, H, N, C)
    lower = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
    gamma = torch.exp((G[..., :, None] - G[..., None, :]).masked_fill(~lower, float("-inf")))
    A = (theta[..., :, None] * torch.matmul(k, k.transpose(-1, -2)) * gamma).tril(-1)
    tri = A + torch.eye(C, dtype=q.dtype, device=q.device)
    u_tilde = torch.linalg.solve_triangular(tri, theta[..., None] * v, upper=False,
                                            unitriangular=True)
    w = torch.linalg.solve_triangular(tri, (theta * torch.exp(G))[..., None] * k,
                                      upper=False, unitriangular=True)
    inner = torch.matmul(q, k.transpose(-1, -2)) * gamma                  # lower incl. diag
    q_decayed = torch.exp(G)[..., None] * q
    k_to_end = torch.exp(G[..., -1:] - G)[..., None] * k
    decay_end = torch.exp(G[..., -1])[..., None, None]
    h = M.transpose(-1, -2)
    outs = []
    for n in range(N):
        u = u_tilde[:, :, n] - torch.matmul(w[:, :, n], h)
        outs.append(torch.matmul(q_decayed[:, :, n], h) + torch.matmul(inner[:, :, n], u))
        h = decay_end[:, :, n] * h + torch.matmul(k_to_end[:, :, n].transpose(-1, -2), u)
    Y = torch.stack(outs, dim=2).reshape(B, H, N * C, d)[:, :, :T]
    return h.transpose(-1, -2), Y


def slow_level_spans(M, S, G, q, k, v, alpha, theta, eta, period, phase):
    """A level of period p > 1 over T tokens, span by span.

    M, S, G [B, H, d, d]; q, k, v [B, H, T, d]; alpha, theta, eta [B, H, T];
    phase = (pulse id of the first token) % p, the same for every stream.
    Between fires M is constant, so per span n
        A_n = sum_t (theta_t / p) k_t k_t^T,  B_n = sum_t (theta_t / p) v_t k_t^T,
        G <- G + M_n A_n - B_n;
    at the fire token (pulse id + 1 divisible by p): S <- eta S - G,
    M <- alpha M + S, G <- 0 (the fire token's gates). y_t = M_n q_t inside
    the span; the fire token reads the updated M.
    Returns (M, S, G, Y [B, H, T, d]).
    """
    B, H, T, d = q.shape
    p = period
    front, back = phase, (-(phase + T)) % p
    if front or back:  # padding tokens: theta = 0, q = 0: no effect
        q, k, v = (F.pad(x, (0, 0, front, back)) for x in (q, k, v))
        alpha, theta, eta = (F.pad(x, (front, back)) for x in (alpha, theta, eta))
    N = (front + T + back) // p
    q, k, v = (x.reshape(B, H, N, p, d) for x in (q, k, v))
    tk = (theta.reshape(B, H, N, p) / p)[..., None] * k
    A = torch.matmul(tk.transpose(-1, -2), k)                             # [B, H, N, d, d]
    Bv = torch.matmul(v.transpose(-1, -2), tk)
    alpha_f = alpha.reshape(B, H, N, p)[..., -1, None, None]
    eta_f = eta.reshape(B, H, N, p)[..., -1, None, None]
    before, after = [], []
    for n in range(N):
        before.append(M)
        G = G + torch.matmul(M, A[:, :, n]) - Bv[:, :, n]
        if n < N - 1 or back == 0:  # the span ends on a real fire token
            S = eta_f[:, :, n] * S - G
            M = alpha_f[:, :, n] * M + S
            G = torch.zeros_like(G)
        after.append(M)
    m_before = torch.stack(before, dim=2)                                 # [B, H, N, d, d]
    m_after = torch.stack(after, dim=2)
    Y = torch.matmul(q, m_before.transpose(-1, -2))                       # [B, H, N, p, d]
    y_fire = torch.matmul(m_after, q[:, :, :, -1, :, None])[..., 0]       # [B, H, N, d]
    Y = torch.cat([Y[:, :, :, :-1], y_fire[:, :, :, None]], dim=3)
    Y = Y.reshape(B, H, N * p, d)[:, :, front:front + T]
    return M, S, G, Y


def memory_token_loop(M, S, G, q, k, v, alpha, theta, eta, period, pulse0):
    """Any level token by token: the plain recurrence of MODEL.md section 2
    (for the parity tests). Shapes as slow_level_spans; G is None for p = 1."""
    T = q.shape[2]
    ys = []
    for t in range(T):
        a, th, et = (x[:, :, t, None, None] for x in (alpha, theta, eta))
        kt, vt, qt = k[:, :, t], v[:, :, t], q[:, :, t]
        if period == 1:
            M = a * M
            err = torch.matmul(M, kt[..., None])[..., 0] - vt
            M = M - th * err[..., :, None] * kt[..., None, :]
        else:
            err = torch.matmul(M, kt[..., None])[..., 0] - vt
            G = G + (th / period) * err[..., :, None] * kt[..., None, :]
            if (pulse0 + t + 1) % period == 0:
                S = et * S - G
                M = a * M + S
                G = torch.zeros_like(G)
        ys.append(torch.matmul(M, qt[..., None])[..., 0])
    return M, S, G, torch.stack(ys, dim=2)


def forward(cfg, w, tokens, state, dropout=0.0, chunk=64, token_loop=False, gate_stats=None):
    """Runs tokens [B, T] (ints 0..255) from `state`. Returns (logits
    [B, T, V], the State after the last token). dropout > 0 drops elements of
    each residual branch (training only; the served model has none).
    gate_stats, a dict, receives per level j the mean alpha, theta and eta
    over layers, heads and tokens (`alpha{j}` ...), detached."""
    B, T = tokens.shape
    H, d, D = cfg.n_heads, cfg.head_dim, cfg.d_model
    pulse = state.pulse
    phases = [int(pulse[0]) % p for p in cfg.periods]
    for p, ph in zip(cfg.periods, phases):
        if p > 1 and bool(((pulse % p) != ph).any()):
            raise ValueError(f"streams of one batch must share the phase mod {p}")
    positions = pulse[:, None] + torch.arange(T, dtype=torch.int64)[None, :]
    new = {}
    x = w["embed"][tokens]

    def branch(y):
        return F.dropout(y, p=dropout, training=True) if dropout > 0 else y

    for l in range(cfg.n_layers):
        pre = f"layers.{l}."
        u = rmsnorm(x) * w[pre + "norm1"]
        qa, ka, va = (u @ w[pre + "attn.wqkv"]).view(B, T, 3, H, d).unbind(2)
        qa, ka = rope(qa, positions), rope(ka, positions)
        attn, new[pre + "attn.k"], new[pre + "attn.v"] = window_attention(
            cfg, qa.transpose(1, 2), ka.transpose(1, 2), va.transpose(1, 2),
            state.tensors[pre + "attn.k"], state.tensors[pre + "attn.v"], pulse)
        qm, km, vm = (u @ w[pre + "mem.wqkv"]).view(B, T, 3, H, d).unbind(2)
        q = l2norm(F.silu(qm)).transpose(1, 2)
        k = l2norm(F.silu(km)).transpose(1, 2)
        v = F.silu(vm).transpose(1, 2)
        z = (u @ w[pre + "mem.wgate"] + w[pre + "mem.bgate"]).view(B, T, 3, cfg.levels, H)
        z = z.permute(2, 3, 0, 4, 1)                                      # [3, levels, B, H, T]
        alpha, theta, eta = torch.sigmoid(z[0]), torch.sigmoid(z[1]), torch.sigmoid(z[2])
        if gate_stats is not None:
            for j in range(cfg.levels):
                for name, gate in (("alpha", alpha), ("theta", theta), ("eta", eta)):
                    key = f"{name}{j}"
                    mean = float(gate[j].detach().mean()) / cfg.n_layers
                    gate_stats[key] = gate_stats.get(key, 0.0) + mean
        m = 0
        for j, period in enumerate(cfg.periods):
            lv = f"{pre}level{j}."
            M, S = state.tensors[lv + "M"], state.tensors[lv + "S"]
            G = state.tensors.get(lv + "G")
            if token_loop:
                M, S, G, y = memory_token_loop(M, S, G, q, k, v, alpha[j], theta[j], eta[j],
                                               period, int(pulse[0]))
            elif period == 1:
                M, y = delta_rule_chunked(M, q, k, v, F.logsigmoid(z[0, j]), theta[j], chunk)
            else:
                M, S, G, y = slow_level_spans(M, S, G, q, k, v, alpha[j], theta[j], eta[j],
                                              period, phases[j])
            new[lv + "M"], new[lv + "S"] = M, S
            if period > 1:
                new[lv + "G"] = G
            m = m + y
        gated = attn * torch.sigmoid(cfg.memory_scale * m)                # MAG
        x = x + branch(gated.transpose(1, 2).reshape(B, T, D) @ w[pre + "wo"])
        u2 = rmsnorm(x) * w[pre + "norm2"]
        mlp = (F.silu(u2 @ w[pre + "mlp.w1"]) * (u2 @ w[pre + "mlp.w3"])) @ w[pre + "mlp.w2"]
        x = x + branch(mlp)
    logits = (rmsnorm(x) * w["norm_f"]) @ w["embed"].T
    ordered = {n: new[n] for n in state.tensors}
    return logits, State(ordered, pulse + T)


def next_byte_loss(logits, targets, reduction="mean"):
    """Cross-entropy in nats of targets [B, T] under logits [B, T, V]."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                           targets.reshape(-1), reduction=reduction)
