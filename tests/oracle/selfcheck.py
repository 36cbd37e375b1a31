"""selfcheck: proves the oracle consistent and its goldens sensitive.

Run as `hecate_ref.py selfcheck [--seed S] [--quick]` (and by the Bazel
oracle_selfcheck_test). Every check uses fresh random weights and inputs; the
seed is printed so a failure can be replayed. Checks:
  1. safetensors and model folder round trips (F32 and F64), and a truncated
     file is reported, never misread;
  2. chunk invariance: any split of a stream gives the same logits and state;
  3. slow levels as matrix products over spans == the token loop (1e-12);
  4. the whole model in sequence form (banded attention, span products, no
     ring) == the token-by-token oracle, also from a pulse id in the billions;
  5. G holds exactly (pulse % p_j) tokens: it is zero on pulse boundaries;
  6. sensitivity: a 10% change in one level's theta or eta, the RoPE base or c,
     or the window by one, moves the logits and the state by > 1e-3 relative
     (10x the golden tolerance); eta of a period-1 level changes nothing;
  7. states stay finite and bounded over 4096 tokens, also with gates near 1.
"""

import math
import os
import random
import statistics
import sys
import tempfile
import time

import torch

SENSITIVITY = 1e-3   # 10x the golden tolerance
STEP = 0.10          # relative perturbation of theta, eta, RoPE base, c


class CheckFailed(AssertionError):
    pass


def _expect(ok, message):
    if not ok:
        raise CheckFailed(message)


def _memory_state(state):
    return torch.cat([t.reshape(-1) for n, t in state.items() if ".level" in n])


def check_io(ref, seed):
    io = ref._io()
    cfg, weights, _, _ = ref.make_case("four_levels", seed)
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_model(tmp, cfg, weights)
        cfg2, weights2 = ref.load_model(tmp)
        _expect(cfg2 == cfg, "config.json round trip changed the config")
        for n in weights:
            _expect(torch.equal(weights[n], weights2[n]), f"model round trip changed {n}")
        path = os.path.join(tmp, "x.safetensors")
        x = {"a": torch.randn(3, 5, dtype=torch.float64), "b": torch.randn(7, dtype=torch.float64)}
        io.write(path, x, "F64", metadata={"k": "v"})
        y = io.read(path)
        _expect(all(torch.equal(x[n], y[n]) for n in x), "F64 safetensors round trip")
        with open(path, "rb") as f:
            raw = f.read()
        with open(path, "wb") as f:
            f.write(raw[:-8])
        try:
            io.read(path)
            _expect(False, "truncated safetensors was read without error")
        except io.SafetensorsError as e:
            _expect("tensor b" in str(e), f"truncation error does not name the tensor: {e}")
    return "io round trips (F32 model folder, F64 tensors), truncation reported"


def check_chunking(ref, rng, cfg, weights, tokens):
    whole = ref.zero_state(cfg)
    logits = ref.forward(cfg, weights, whole, tokens, 0)
    cuts = sorted(rng.sample(range(1, len(tokens)), 6)) + [len(tokens)]
    cuts = [0] + cuts
    pieces, parts = ref.zero_state(cfg), []
    for a, b in zip(cuts, cuts[1:]):
        parts.append(ref.forward(cfg, weights, pieces, tokens[a:b], a))
    err = max([ref.relative_error(torch.cat(parts), logits)] +
              [ref.relative_error(pieces[n], whole[n]) for n in whole])
    _expect(err < 1e-13, f"chunked run differs from one chunk: {err:.2e}")
    return f"chunk invariance over splits {cuts}: max rel err {err:.1e}"


def check_span_products(ref, seq, gen):
    worst = 0.0
    for period, start, T in [(2, 1, 37), (8, 0, 64), (8, 5, 61), (32, 29, 101)]:
        H, d = 3, 6
        K = ref.l2norm(torch.randn(T, H, d, generator=gen, dtype=torch.float64))
        Q = ref.l2norm(torch.randn(T, H, d, generator=gen, dtype=torch.float64))
        V = torch.randn(T, H, d, generator=gen, dtype=torch.float64)
        alpha, theta, eta = torch.rand(3, T, H, generator=gen, dtype=torch.float64)
        M0, S0 = torch.randn(2, H, d, d, generator=gen, dtype=torch.float64)
        # A G consistent with the invariant: (start % period) tokens' worth.
        G0 = torch.randn(H, d, d, generator=gen, dtype=torch.float64) * (start % period)
        M, S, G, Y = M0, S0, G0, torch.empty_like(Q)
        for t in range(T):
            M, S, G, Y[t] = ref.memory_level_step(M, S, G, K[t], V[t], Q[t], alpha[t],
                                                  theta[t], eta[t], period, start + t)
        M2, S2, G2, Y2 = seq.slow_level_spans(M0, S0, G0, K, V, Q, alpha, theta, eta,
                                              period, start)
        for a, b, what in [(M2, M, "M"), (S2, S, "S"), (Y2, Y, "y")]:
            worst = max(worst, ref.relative_error(a, b))
            _expect(worst < 1e-12, f"span products vs loop, {what}, period {period}: {worst:.2e}")
        gerr = float(torch.linalg.norm(G2 - G) / (1 + torch.linalg.norm(G)))
        _expect(gerr < 1e-12, f"span products vs loop, G, period {period}: {gerr:.2e}")
        worst = max(worst, gerr)
    return f"slow levels as span matrix products == token loop: max rel err {worst:.1e}"


def check_sequence_form(ref, seq, name, seed, tokens, start_pulse=None):
    cfg, weights, case_start, _ = ref.make_case(name, seed)
    start = case_start if start_pulse is None else start_pulse
    s1, s2 = ref.zero_state(cfg), ref.zero_state(cfg)
    l1 = ref.forward(cfg, weights, s1, tokens, start)
    l2 = seq.forward_sequence(ref, cfg, weights, tokens, start, s2)
    errs = {"logits": ref.relative_error(l2, l1)}
    errs.update({n: ref.relative_error(s2[n], s1[n]) for n in s1})
    worst = max(errs, key=errs.get)
    # Float64 angles at pulse id p carry ~p * 1e-16 rad of rounding, which the
    # two RoPE formulas do not share: allow for it in the billions.
    tol = 1e-10 if start < 2**20 else 1e-7
    _expect(errs[worst] < tol, f"{name}: sequence form vs token loop, {worst}: "
                               f"{errs[worst]:.2e}")
    return f"{name} from pulse {start}: sequence form == token loop (max {errs[worst]:.1e})"


def check_error_buffer_invariant(ref, cfg, weights, tokens):
    period = max(cfg.periods)
    state = ref.zero_state(cfg)
    ref.forward(cfg, weights, state, tokens[:period], 0)
    zero = [n for n in state if n.endswith(".G") and torch.count_nonzero(state[n]) == 0]
    _expect(len(zero) == cfg.n_layers * sum(p > 1 for p in cfg.periods),
            f"at pulse {period} every G must be zero")
    ref.forward(cfg, weights, state, tokens[period:period + 3], period)
    nonzero = [n for n in state if n.endswith(".G") and torch.count_nonzero(state[n]) > 0]
    _expect(len(nonzero) == len(zero), f"at pulse {period + 3} every G must hold gradient")
    return f"G is zero exactly on pulse boundaries ({len(zero)} buffers)"


def check_sensitivity(ref, name, seed, tokens):
    cfg, weights, _, _ = ref.make_case(name, seed)
    _expect(len(tokens) > cfg.window + 1, "stream must wrap the window")
    base_state = ref.zero_state(cfg)
    base = ref.forward(cfg, weights, base_state, tokens, 0)
    variants = {f"theta level {j}": ref.Knobs(theta_scale={j: 1 + STEP}) for j in range(cfg.levels)}
    variants.update({f"eta level {j}": ref.Knobs(eta_scale={j: 1 + STEP})
                     for j, p in enumerate(cfg.periods) if p > 1})
    variants["rope base"] = ref.Knobs(rope_base=ref.ROPE_BASE * (1 + STEP))
    variants["window + 1"] = ref.Knobs(window=cfg.window + 1)
    variants["window - 1"] = ref.Knobs(window=cfg.window - 1)
    variants["c"] = ref.Knobs(memory_scale=cfg.memory_scale * (1 + STEP))
    lines = []
    for what, knobs in variants.items():
        state = ref.zero_state(cfg, window=knobs.window)
        logits = ref.forward(cfg, weights, state, tokens, 0, knobs)
        dl = ref.relative_error(logits, base)
        ds = ref.relative_error(_memory_state(state), _memory_state(base_state))
        _expect(dl > SENSITIVITY, f"{name}: {what} moves logits by only {dl:.1e}")
        _expect(ds > SENSITIVITY, f"{name}: {what} moves the memory state by only {ds:.1e}")
        lines.append(f"{what} {dl:.1e}/{ds:.1e}")
    # Period-1 levels carry no momentum: their eta must not matter at all.
    for j, p in enumerate(cfg.periods):
        if p == 1:
            state = ref.zero_state(cfg)
            same = ref.forward(cfg, weights, state, tokens, 0, ref.Knobs(eta_scale={j: 0.5}))
            _expect(torch.equal(same, base), f"{name}: eta of period-1 level {j} changed logits")
    return f"{name} sensitivity (logits/state rel change): " + ", ".join(lines)


def memory_peaks(ref, name, seed, tokens, gate_bias=None, block=512):
    """Max |M|, |S|, |G| after each block of tokens; gate_bias, when given,
    replaces every gate bias (all of alpha, theta, eta near sigmoid(bias))."""
    cfg, weights, _, _ = ref.make_case(name, seed)
    if gate_bias is not None:
        for n in weights:
            if n.endswith("mem.bgate"):
                weights[n] = torch.full_like(weights[n], gate_bias)
    state = ref.zero_state(cfg)
    peaks = []
    for a in range(0, len(tokens), block):
        logits = ref.forward(cfg, weights, state, tokens[a:a + block], a)
        _expect(bool(torch.isfinite(logits).all()), f"{name}: non-finite logits")
        for n, t in state.items():
            _expect(bool(torch.isfinite(t).all()), f"{name}: {n} not finite at {a + block}")
        peaks.append(max(float(t.abs().max()) for n, t in state.items() if ".level" in n))
    return peaks


def check_bounded(ref, name, seed, tokens, gate_bias=None, block=512):
    peaks = memory_peaks(ref, name, seed, tokens, gate_bias, block)
    # Bounded: past the first blocks, the peaks do not keep growing. Medians,
    # not maxima: one block's spike (seed 1705487506: 9.3 among peaks of
    # 3.3-4.7) is not growth, while memory that grows raises the later half's
    # median as well.
    settled = statistics.median(peaks[1:len(peaks) // 2])
    later = statistics.median(peaks[len(peaks) // 2:])
    _expect(later <= 2 * settled + 1e-9,
            f"{name}: memory keeps growing, peaks per {block} tokens {peaks}")
    _expect(max(peaks) < 1e3, f"{name}: memory too large: {peaks}")
    gates = "" if gate_bias is None else f" (all gate biases {gate_bias})"
    return (f"{name}{gates}: {len(tokens)} tokens finite, "
            f"memory peak per block " + " ".join(f"{p:.2g}" for p in peaks))


def probe_stability(ref, seed, tokens=4096):
    """Not a check: prints memory peaks with every gate pushed toward 1.

    With alpha, eta and theta all near 1, a level with p_j > 1 can grow without
    bound (momentum with a changing curvature each span), although each gate
    lies in (0, 1) and |k| = 1; MODEL.md section 2 claims boundedness.
    """
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(tokens))
    for bias in (2.2, 3.0, 4.0, 6.0):
        peaks = memory_peaks(ref, "small", seed, data, gate_bias=bias, block=512)
        gate = 1 / (1 + math.exp(-bias))
        print(f"gates ~{gate:.3f}: memory peak per 512 tokens " +
              " ".join(f"{p:.3g}" for p in peaks), flush=True)
    return 0


def run(ref, seed=None, quick=False, probe=False):
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    import sequence_form as seq
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    print(f"selfcheck seed {seed} (replay: hecate_ref.py selfcheck --seed {seed})", flush=True)
    if probe:
        return probe_stability(ref, seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)

    def stream(n):
        return bytes(rng.randrange(256) for _ in range(n))

    # --quick keeps bazel test within its timeout on a loaded 2-core CI machine
    # (the live golden test runs beside it); the full run is the thorough one.
    n_tokens = 300 if quick else 517
    n_bounded, block = (2048, 256) if quick else (4096, 512)
    checks = [
        lambda: check_io(ref, seed),
        lambda: check_chunking(ref, rng, *ref.make_case("odd", seed)[:2], stream(n_tokens)),
        lambda: check_span_products(ref, seq, gen),
        lambda: check_sequence_form(ref, seq, "odd", seed, stream(n_tokens)),
        lambda: check_sequence_form(ref, seq, "four_levels", seed, stream(n_tokens), 37),
        lambda: check_sequence_form(ref, seq, "late_pulse", seed, stream(n_tokens)),
        lambda: check_error_buffer_invariant(ref, *ref.make_case("four_levels", seed)[:2],
                                             stream(40)),
        lambda: check_sensitivity(ref, "odd", seed, stream(n_tokens)),
        lambda: check_sensitivity(ref, "four_levels", seed, stream(n_tokens // 2)),
        lambda: check_bounded(ref, "four_levels", seed, stream(n_bounded), block=block),
        lambda: check_bounded(ref, "small", seed, stream(n_bounded), gate_bias=2.2,
                              block=block),
    ]
    failures = 0
    for check in checks:
        t0 = time.time()
        try:
            line = "PASS " + check()
        except CheckFailed as e:
            failures += 1
            line = f"FAIL {e}"
        print(f"{line}  [{time.time() - t0:.1f}s]", flush=True)
    print("selfcheck: " + ("all passed" if not failures else f"{failures} FAILED"))
    return 1 if failures else 0
