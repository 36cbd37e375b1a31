"""A second, independent float64 form of MODEL.md, used only by selfcheck.

Where hecate_ref.forward walks token by token through a ring buffer, this
walks layer by layer over the whole stream: causal banded attention with a
mask over absolute positions (no ring), RoPE for all positions at once, and
every CMS level with p_j > 1 computed span by span with matrix products
(MODEL.md: "within such a span every product is a matrix product over the
span's tokens"), the structure the GPU uses. Both forms must agree to float64
rounding; they share no code beyond the two norms and silu.
"""

import math

import torch


def slow_level_spans(M, S, G, K, V, Q, alpha, theta, eta, period, start_pulse):
    """Level with period > 1 over a stream, one matrix product per span.

    K, V, Q: [T, H, d]; alpha, theta, eta: [T, H]. M, S, G: [H, d, d].
    Returns (M, S, G, Y) with Y [T, H, d] the reads after any update.
    Between fire points M is frozen, so for a span of tokens
        E = K M^T - V,   G += (theta / p * E)^T K,   Y = Q M^T,
    and at the fire token (the span's last): S = eta S - G, M = alpha M + S,
    G = 0, and that token reads the new M.
    """
    T = K.shape[0]
    Y = torch.empty_like(Q)
    t = 0
    while t < T:
        to_fire = period - (start_pulse + t) % period   # tokens up to and incl. fire
        end = min(T, t + to_fire)
        Ks, Vs, Qs = K[t:end], V[t:end], Q[t:end]
        E = torch.einsum("thj,hij->thi", Ks, M) - Vs            # K M^T - V
        G = G + torch.einsum("thi,thj->hij", (theta[t:end] / period)[:, :, None] * E, Ks)
        Y[t:end] = torch.einsum("thj,hij->thi", Qs, M)          # Q M^T
        if end - t == to_fire:                                   # span ends on a pulse
            a, e = alpha[end - 1][:, None, None], eta[end - 1][:, None, None]
            S = e * S - G
            M = a * M + S
            G = torch.zeros_like(G)
            Y[end - 1] = torch.einsum("hij,hj->hi", M, Q[end - 1])
        t = end
    return M, S, G, Y


def _delta_rule(M, K, V, Q, alpha, theta):
    """Level with period 1: gated delta rule, written as M (I - theta k k^T)."""
    H, d = K.shape[1], K.shape[2]
    eye = torch.eye(d, dtype=K.dtype).expand(H, d, d)
    Y = torch.empty_like(Q)
    for t in range(K.shape[0]):
        k = K[t]
        proj = eye - theta[t][:, None, None] * k[:, :, None] * k[:, None, :]
        M = alpha[t][:, None, None] * (M @ proj) + theta[t][:, None, None] * (
            V[t][:, :, None] * k[:, None, :])
        Y[t] = (M @ Q[t][:, :, None])[..., 0]
    return M, Y


def _rope_all(X, positions, base):
    """X [T, H, d] at absolute integer positions [T] (float64 angles)."""
    d = X.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angle = torch.tensor(positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    x1, x2 = X[..., : d // 2], X[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def forward_sequence(ref, cfg, w, tokens, start_pulse, state):
    """The whole stream at once from a zero state. Fills `state` (same names and
    layout as hecate_ref.zero_state) and returns logits [T, V]."""
    H, d, D, W, T = cfg.n_heads, cfg.head_dim, cfg.d_model, cfg.window, len(tokens)
    s = start_pulse
    positions = list(range(s, s + T))
    X = w["embed"][torch.tensor(list(tokens), dtype=torch.long)]
    # Zero state stands for positions s-z..s-1 inside the first window: their
    # keys and values are zero (score 0), and they are still softmax entries.
    z = min(W - 1, s)
    key_pos = torch.arange(s - z, s + T, dtype=torch.float64)
    qry_pos = torch.tensor(positions, dtype=torch.float64)
    band = (key_pos[None, :] <= qry_pos[:, None]) & (key_pos[None, :] > qry_pos[:, None] - W)
    for l in range(cfg.n_layers):
        pre = f"layers.{l}."
        U = ref.rmsnorm(X) * w[pre + "norm1"]
        Qa, Ka, Va = (U @ w[pre + "attn.wqkv"]).view(T, 3, H, d).unbind(1)
        Qa, Ka = _rope_all(Qa, positions, ref.ROPE_BASE), _rope_all(Ka, positions, ref.ROPE_BASE)
        Kp = torch.cat([torch.zeros(z, H, d, dtype=X.dtype), Ka])
        Vp = torch.cat([torch.zeros(z, H, d, dtype=X.dtype), Va])
        scores = torch.einsum("thd,shd->hts", Qa, Kp) / math.sqrt(d)
        scores = scores.masked_fill(~band[None], float("-inf"))
        A = torch.einsum("hts,shd->thd", torch.softmax(scores, -1), Vp)
        for q_pos in range(W):  # ring slot = position % W, last W positions
            p = s + T - 1 - q_pos
            if p < 0:
                break
            row = p - (s - z)
            if row >= 0:
                state[pre + "attn.k"][:, p % W] = Kp[row]
                state[pre + "attn.v"][:, p % W] = Vp[row]
        Qm, Km, Vm = (U @ w[pre + "mem.wqkv"]).view(T, 3, H, d).unbind(1)
        Qm, Km, Vm = ref.l2norm(ref.silu(Qm)), ref.l2norm(ref.silu(Km)), ref.silu(Vm)
        gates = torch.sigmoid(U @ w[pre + "mem.wgate"] + w[pre + "mem.bgate"])
        gates = gates.view(T, 3, cfg.levels, H)
        Msum = torch.zeros(T, H, d, dtype=X.dtype)
        for j, period in enumerate(cfg.periods):
            lv = f"{pre}level{j}."
            alpha, theta, eta = gates[:, 0, j], gates[:, 1, j], gates[:, 2, j]
            if period == 1:
                state[lv + "M"], Y = _delta_rule(state[lv + "M"], Km, Vm, Qm, alpha, theta)
            else:
                M, S, G, Y = slow_level_spans(state[lv + "M"], state[lv + "S"],
                                              state[lv + "G"], Km, Vm, Qm,
                                              alpha, theta, eta, period, s)
                state[lv + "M"], state[lv + "S"], state[lv + "G"] = M, S, G
            Msum = Msum + Y
        X = X + (A * torch.sigmoid(cfg.memory_scale * Msum)).reshape(T, D) @ w[pre + "wo"]
        U2 = ref.rmsnorm(X) * w[pre + "norm2"]
        X = X + (ref.silu(U2 @ w[pre + "mlp.w1"]) * (U2 @ w[pre + "mlp.w3"])) @ w[pre + "mlp.w2"]
    return (ref.rmsnorm(X) * w["norm_f"]) @ w["embed"].T
