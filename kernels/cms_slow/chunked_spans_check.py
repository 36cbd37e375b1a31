"""The chunked form of a slow CMS level (NOTES.md, "Next") against MODEL.md.

A level of period p holds M fixed between fires, so a window of J spans can
be advanced from one product with the window's starting state: with
D_m = E'_m K_m (span m's addition to G), M_n and S_n are scalar
combinations of M_0, S_0, G_0 and the D_m, and span n's errors

    E_n = a_n M_0 K_n^T + b_n S_0 K_n^T + c_n G_0 K_n^T
          - sum_{m<n} gamma_{n,m} E'_m (K_m K_n^T)

need only 8 x 8 key Gram blocks on top. This checks that algebra in float64
against the token-by-token definition (docs/MODEL.md section 2) on random
data: windows that start and end inside spans, several windows in a row,
every read. It is the oracle a kernel of that form will be written against.
Prints its seed; HECATE_TEST_SEED replays one.
"""

import os
import random
import sys

import numpy as np


def token_loop(state, k, q, v, alpha, theta, eta, period, pulse):
    """docs/MODEL.md: one slow level, token by token. Returns (state, y)."""
    m, s, g = (x.copy() for x in state)
    ys = []
    for t in range(len(k)):
        e = m @ k[t] - v[t]
        g += (theta[t] / period) * np.outer(e, k[t])
        if (pulse + t + 1) % period == 0:
            s = eta[t] * s - g
            m = alpha[t] * m + s
            g = np.zeros_like(g)
        ys.append(m @ q[t])
    return (m, s, g), np.array(ys)


def chunked_window(state, k, q, v, alpha, theta, eta, period, pulse):
    """The same tokens as spans between fires, from products with the
    window's starting state and Gram blocks of its keys and queries."""
    m0, s0, g0 = state
    tokens = len(k)
    # Spans: [start, end), the last token of each fires except maybe the last.
    spans, start = [], 0
    for t in range(tokens):
        if (pulse + t + 1) % period == 0 or t == tokens - 1:
            spans.append((start, t + 1, (pulse + t + 1) % period == 0))
            start = t + 1
    j = len(spans)
    # Coefficients over the basis (M_0, S_0, G_0, D_0, ..., D_{J-1}).
    basis = 3 + j
    coef_m = np.zeros((j + 1, basis))
    coef_s = np.zeros((j + 1, basis))
    coef_m[0, 0] = 1.0
    coef_s[0, 1] = 1.0
    # The window's products with its starting state, and its Gram blocks.
    pk = [m0 @ k.T, s0 @ k.T, g0 @ k.T]  # each [rows, tokens]
    pq = [m0 @ q.T, s0 @ q.T, g0 @ q.T]
    kk = k @ k.T  # [tokens, tokens]
    kq = k @ q.T
    errs = []  # E'_m: [rows, span length]
    y = np.zeros((tokens, m0.shape[0]))

    def apply(coef, products, gram, cols):
        """coef applied to the basis, times keys or queries `cols`."""
        out = sum(coef[b] * products[b][:, cols] for b in range(3))
        for mm, (a, b, _) in enumerate(spans[: len(errs)]):
            out = out + coef[3 + mm] * (errs[mm] @ gram[a:b, cols])  # D_m X^T
        return out

    for n, (a, b, fires) in enumerate(spans):
        cols = slice(a, b)
        e = apply(coef_m[n], pk, kk, cols)
        err = (e - v[a:b].T) * (theta[a:b] / period)
        errs.append(err)
        reads = apply(coef_m[n], pq, kq, cols)
        y[a:b] = reads.T
        if fires:
            last = b - 1
            coef_s[n + 1] = eta[last] * coef_s[n]
            if n == 0:
                coef_s[n + 1, 2] -= 1.0  # G_0 belongs to the first span
            coef_s[n + 1, 3 + n] -= 1.0
            coef_m[n + 1] = alpha[last] * coef_m[n] + coef_s[n + 1]
            y[last] = apply(coef_m[n + 1], pq, kq, slice(last, last + 1))[:, 0]
        else:
            coef_m[n + 1] = coef_m[n]
            coef_s[n + 1] = coef_s[n]

    def assemble(coef):
        out = coef[0] * m0 + coef[1] * s0 + coef[2] * g0
        for mm, (a, b, _) in enumerate(spans):
            out = out + coef[3 + mm] * (errs[mm] @ k[a:b])
        return out

    m, s = assemble(coef_m[j]), assemble(coef_s[j])
    a, b, fires = spans[-1]
    if fires:
        g = np.zeros_like(g0)
    else:  # the open span's buffer: G_0 too if it is the window's first
        g = errs[-1] @ k[a:b] + (g0 if j == 1 else 0.0)
    return (m, s, g), y


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main():
    seed = int(os.environ.get("HECATE_TEST_SEED", random.SystemRandom().randrange(2**63)))
    print(f"chunked_spans_check: seed {seed} (HECATE_TEST_SEED replays it)")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for case in range(40):
        period = int(rng.choice([2, 3, 8, 16, 64]))
        d = int(rng.choice([4, 8, 16]))
        tokens = int(rng.integers(1, 5 * period + 3))
        pulse = int(rng.integers(0, 10**12))
        window = int(rng.integers(1, tokens + 1))  # tokens per chunked window
        k, q = unit_rows(rng, tokens, d), rng.standard_normal((tokens, d))
        v = rng.standard_normal((tokens, d))
        alpha, theta, eta = (rng.uniform(0.05, 0.95, tokens) for _ in range(3))
        state = tuple(rng.standard_normal((d, d)) for _ in range(2))
        # G as after (pulse % period) tokens of gradient: any matrix will do
        # for the algebra, zero when the pulse starts a period.
        g0 = rng.standard_normal((d, d)) if pulse % period else np.zeros((d, d))
        state = state + (g0,)
        want_state, want_y = token_loop(state, k, q, v, alpha, theta, eta, period, pulse)
        got_state, ys = state, []
        for start in range(0, tokens, window):
            sl = slice(start, min(tokens, start + window))
            got_state, y = chunked_window(got_state, k[sl], q[sl], v[sl], alpha[sl], theta[sl],
                                          eta[sl], period, pulse + start)
            ys.append(y)
        got_y = np.concatenate(ys)
        for name, got, want in [("y", got_y, want_y), ("M", got_state[0], want_state[0]),
                                ("S", got_state[1], want_state[1]),
                                ("G", got_state[2], want_state[2])]:
            err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
            worst = max(worst, err)
            if not err < 1e-10:
                print(f"case {case} (p {period}, d {d}, T {tokens}, window {window}, "
                      f"pulse {pulse}): {name} rel err {err:.3g}")
                return 1
    print(f"40 cases: chunked windows equal the token loop, worst rel err {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
