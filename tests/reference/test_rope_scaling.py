#!/usr/bin/python3
"""RoPE scaling (model.rope_scaling): gatedlm against an independent float64 reference.

Part 1: for several types, factors, head dims and thetas, `gatedlm oracle-dump --steps 0` writes
rope/inv_freq, rope/attention_scaling, rope/cos, rope/sin (train.seq_len rows) and, for yarn,
rope/inv_freq_untruncated; each is compared with the reference below to 1e-6 (absolute; every
value is at most ~1.1 in magnitude).
Part 2: the PyTorch oracle (gatedlm_ref.py) with its RoPE tables replaced by these formulas runs
the dense parity check (logits, loss, gradients, 10 steps) on yarn, linear and dynamic configs.

The formulas follow Hugging Face transformers' modeling_rope_utils.py, written here from the
YaRN paper's quantities (wavelengths and rotation counts), not from the C++ code:
  linear   inv_freq = theta^(-2i/D) / factor                                attention 1
  dynamic  theta' = theta * (factor * L / L0 - (factor - 1))^(D / (D - 2)),
           L = max(seq_len, L0)                                            attention 1
  yarn     a dim whose wavelength fits r > beta_fast times into L0 keeps its frequency, one
           that fits r < beta_slow times is divided by factor; the ramp between is linear in
           the dim index (as HF; the paper writes it linear in r); attention 0.1 ln(s) + 1
           multiplies cos and sin.
Exits non-zero on any failure. `-v` prints every comparison.
"""

import copy
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gatedlm_ref  # noqa: E402

TOL = 1e-6


def reference_rope(dim, theta, scaling, seq_len, truncate=True):
    """(inv_freq [D/2] float64, attention_scaling) for rope_scaling dict `scaling` or None."""
    i = np.arange(dim // 2, dtype=np.float64)
    plain = np.exp(-2.0 * i / dim * math.log(theta))
    kind = (scaling or {}).get("type") or "none"
    if kind == "none":
        return plain, 1.0
    factor = float(scaling["factor"])
    orig = float(scaling.get("original_max_position_embeddings") or 0)
    if kind == "linear":
        return plain / factor, 1.0
    if kind == "dynamic":
        length = max(float(seq_len), orig)
        grown = theta * (factor * length / orig - (factor - 1.0)) ** (dim / (dim - 2.0))
        return np.exp(-2.0 * i / dim * math.log(grown)), 1.0
    if kind == "yarn":
        # Dim index at which the wavelength 2*pi/inv_freq fits `rotations` times into orig.
        def index_for(rotations):
            wavelength = orig / rotations
            return math.log(wavelength / (2.0 * math.pi)) / math.log(theta) * dim / 2.0

        lo, hi = index_for(scaling.get("beta_fast", 32.0)), index_for(scaling.get("beta_slow", 1.0))
        if truncate:
            lo, hi = float(math.floor(lo)), float(math.ceil(hi))
        lo, hi = max(lo, 0.0), min(hi, dim - 1.0)  # HF clamps to dim - 1, not dim/2 - 1
        if hi == lo:
            hi += 0.001
        interp_weight = np.clip((i - lo) / (hi - lo), 0.0, 1.0)
        inv = plain * (1.0 - interp_weight) + (plain / factor) * interp_weight
        attention = 1.0 if factor <= 1.0 else 1.0 + 0.1 * math.log(factor)
        return inv, attention
    raise ValueError(kind)


def reference_tables(inv_freq, attention, seq_len):
    angles = np.arange(seq_len, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angles) * attention, np.sin(angles) * attention


# (name, head_dim, theta, seq_len, rope_scaling dict or None)
CASES = [
    ("none D32", 32, 10000.0, 64, None),
    ("linear f2 D32", 32, 10000.0, 64, {"type": "linear", "factor": 2.0}),
    ("linear f8 D64 theta1e6", 64, 1.0e6, 64, {"type": "linear", "factor": 8.0}),
    # dynamic: seq_len above and at/below the original length (the latter must be unscaled).
    ("dynamic f2 D32 T>L0", 32, 10000.0, 96, {"type": "dynamic", "factor": 2.0,
                                            "original_max_position_embeddings": 32}),
    ("dynamic f4 D16 T=L0", 16, 10000.0, 32, {"type": "dynamic", "factor": 4.0,
                                            "original_max_position_embeddings": 32}),
    ("dynamic f8 D64 T>>L0", 64, 500000.0, 256, {"type": "dynamic", "factor": 8.0,
                                               "original_max_position_embeddings": 16}),
]
for dim in (16, 32, 64, 128):
    for factor in (2.0, 4.0, 8.0, 32.0):
        CASES.append((f"yarn f{factor:g} D{dim}", dim, 10000.0, 64, {
            "type": "yarn", "factor": factor, "original_max_position_embeddings": 256,
            "beta_fast": 32.0, "beta_slow": 1.0}))
CASES += [
    ("yarn f4 D64 theta1e6 L0=4096", 64, 1.0e6, 64, {
        "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
        "beta_fast": 32.0, "beta_slow": 1.0}),
    ("yarn f2.5 D48 betas 16/2", 48, 10000.0, 128, {
        "type": "yarn", "factor": 2.5, "original_max_position_embeddings": 64,
        "beta_fast": 16.0, "beta_slow": 2.0}),
    ("yarn f0.5 D32 (no mscale)", 32, 10000.0, 32, {
        "type": "yarn", "factor": 0.5, "original_max_position_embeddings": 128,
        "beta_fast": 32.0, "beta_slow": 1.0}),
    ("yarn f16 D32 L0=16 (clamped range)", 32, 10000.0, 32, {
        "type": "yarn", "factor": 16.0, "original_max_position_embeddings": 16,
        "beta_fast": 32.0, "beta_slow": 1.0}),
]


def scaling_override(scaling):
    if scaling is None:
        return "model.rope_scaling=null"
    body = ", ".join(f"{k}: {v}" for k, v in scaling.items())
    return "model.rope_scaling={" + body + "}"


def dump_rope(binary, config, workdir, dim, theta, seq_len, scaling):
    out = os.path.join(workdir, "rope.h5")
    sets = [
        f"model.head_dim={dim}", "model.num_attention_heads=2", "model.num_key_value_heads=2",
        f"model.rope_theta={theta}", f"train.seq_len={seq_len}", "train.micro_batch_size=1",
        "train.grad_accum_steps=1", scaling_override(scaling)]
    cmd = [binary, "oracle-dump", config, "--out", out, "--steps", "0"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, GATEDLM_THREADS="2"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    with h5py.File(out, "r") as f:
        return {name: f["rope"][name][()] for name in f["rope"]}


def check_tables(verbose):
    binary = os.environ.get("GATEDLM")
    if not binary:
        print("FAIL GATEDLM is not set")
        return 1, 0.0
    config = os.path.join(gatedlm_ref.source_dir(), "configs/models/dense-tiny.yaml")
    failures, worst = 0, 0.0
    with tempfile.TemporaryDirectory(prefix="gatedlm-rope-") as workdir:
        for name, dim, theta, seq_len, scaling in CASES:
            try:
                got = dump_rope(binary, config, workdir, dim, theta, seq_len, scaling)
            except RuntimeError as error:
                print(f"FAIL {name}: {error}")
                failures += 1
                continue
            inv, att = reference_rope(dim, theta, scaling, seq_len)
            cos, sin = reference_tables(inv, att, seq_len)
            errors = {
                "inv_freq": np.abs(got["inv_freq"] - inv).max(),
                "attention_scaling": abs(float(got["attention_scaling"]) - att),
                "cos": np.abs(got["cos"].astype(np.float64) - cos).max(),
                "sin": np.abs(got["sin"].astype(np.float64) - sin).max(),
            }
            if scaling and scaling["type"] == "yarn":
                untrunc, _ = reference_rope(dim, theta, scaling, seq_len, truncate=False)
                errors["inv_freq_untruncated"] = np.abs(got["inv_freq_untruncated"] - untrunc).max()
            bad = {k: v for k, v in errors.items() if not v <= TOL}
            worst = max(worst, max(errors.values()))
            status = "FAIL" if bad else "PASS"
            if bad or verbose:
                print(f"{status} {name}: " + " ".join(f"{k}={v:.2e}" for k, v in errors.items()))
            else:
                print(f"PASS {name}: max error {max(errors.values()):.2e} (attention {att:.6f})")
            failures += bool(bad)
    return failures, worst


def install_scaled_oracle():
    """Makes gatedlm_ref use the reference scaled RoPE (it rejects rope_scaling by itself)."""
    state = {"scaling": None}
    plain_check = gatedlm_ref.check_supported

    def check_supported(config):
        state["scaling"] = config["model"].get("rope_scaling")
        stripped = copy.deepcopy(config)
        stripped["model"]["rope_scaling"] = None
        plain_check(stripped)

    def rope_tables(seq_len, head_dim, theta, dtype, interleaved=False):
        inv, att = reference_rope(head_dim, theta, state["scaling"], seq_len)
        cos, sin = reference_tables(inv, att, seq_len)
        cos = np.concatenate([cos, cos], axis=-1)
        sin = np.concatenate([sin, sin], axis=-1)
        return torch.from_numpy(cos).to(dtype), torch.from_numpy(sin).to(dtype)

    gatedlm_ref.check_supported = check_supported
    gatedlm_ref.rope_tables = rope_tables


PARITY_TRAIN = [
    "train.seed=77", "train.precision=fp32", "train.seq_len=48", "train.micro_batch_size=2",
    "train.steps=10", "train.grad_accum_steps=1", "train.max_grad_norm=0.5",
    "optimizer.type=adamw", "optimizer.lr=3.0e-3", "optimizer.eps=1.0e-6",
    "optimizer.weight_decay=0.1", "scheduler.type=cosine", "scheduler.warmup_steps=3",
    "scheduler.min_lr=3.0e-4",
]
PARITY_CASES = [
    ("yarn f4 L0=16 (T = 3 x L0)", ["model.rope_scaling={type: yarn, factor: 4, "
                                    "original_max_position_embeddings: 16, beta_fast: 32, "
                                    "beta_slow: 1}"]),
    ("yarn f8 G1 gate", ["model.rope_scaling={type: yarn, factor: 8, "
                         "original_max_position_embeddings: 32, beta_fast: 32, beta_slow: 1}",
                         "model.attention_gate.position=sdpa"]),
    # Every key spelt out: the harness checks the dumped config holds exactly what was set.
    ("linear f2", ["model.rope_scaling={type: linear, factor: 2, "
                   "original_max_position_embeddings: 0, beta_fast: 32, beta_slow: 1}"]),
    ("dynamic f4 L0=16", ["model.rope_scaling={type: dynamic, factor: 4, "
                          "original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1}"]),
]


def main():
    verbose = "-v" in sys.argv[1:]
    failures, worst = check_tables(verbose)
    print(f"== rope tables: {len(CASES) - failures}/{len(CASES)} cases within {TOL:g}, "
          f"worst error {worst:.2e}", flush=True)
    install_scaled_oracle()
    cases = [(name, PARITY_TRAIN + o) for name, o in PARITY_CASES]
    parity = gatedlm_ref.run_parity_cases("rope-scaling parity", cases, 10, verbose=verbose)
    return 1 if failures or parity else 0


if __name__ == "__main__":
    sys.exit(main())
