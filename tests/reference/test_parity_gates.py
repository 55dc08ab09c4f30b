#!/usr/bin/python3
"""Parity of the gated-attention variants: gatedlm oracle-dump against the PyTorch oracle.

Rows 1-20 of the ablation table in shared/paper/gated-attention-facts.md, scaled to dense-tiny
(4 query / 2 kv heads as the baseline; k=8 -> 4 kv heads, q=48 -> 6 query heads), plus extra
combinations. Each case: one forward/backward and 3 optimizer steps. Row 4 (+4 experts) turns
the dense FFN (I=192) into 4 active experts of 48 (top-4) plus 4 more experts (docs/gating.md).
Fails (never skips) when GATEDLM is unset or the binary fails. `-v` prints every check.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gatedlm_ref  # noqa: E402

STEPS = 3

TRAIN = [
    "train.seed=4321",
    "train.precision=fp32",
    "train.seq_len=16",
    "train.micro_batch_size=2",
    "train.steps=3",
    "train.grad_accum_steps=1",
    "train.max_grad_norm=1.0",
    "optimizer.type=adamw",
    "optimizer.lr=3.0e-3",
    # Adam's first steps move an element by lr*g/(|g|+eps): with eps=1e-8, an element whose
    # gradient is ~1e-8 (float32 noise on a near-cancelling sum) moves by an arbitrary fraction
    # of lr, and the final params of two correct float32 codes differed by up to 1.6e-4. With
    # eps=1e-6 that noise is damped 100x and the 1e-4 bound holds with margin (README).
    "optimizer.eps=1.0e-6",
    "optimizer.weight_decay=0.1",
    "optimizer.decay_embeddings=true",
    "scheduler.type=cosine",
    "scheduler.warmup_steps=2",
    "scheduler.min_lr=3.0e-4",
    "model.num_attention_heads=4",
    "model.num_key_value_heads=2",
    "model.qk_norm=true",
]

GATE = "model.attention_gate."
RANDOMIZE = "--randomize-all"  # an oracle-dump flag, passed through as it is


def gate(position, **axes):
    overrides = [f"{GATE}position={position}"]
    overrides += [f"{GATE}{key}={value}" for key, value in axes.items()]
    return overrides


CASES = [
    ("01 baseline", gate("none")),
    ("02 k=8 -> 4 kv heads", gate("none") + ["model.num_key_value_heads=4"]),
    ("03 q=48 -> 6 query heads", gate("none") + ["model.num_attention_heads=6"]),
    (
        "04 +4 experts",
        gate("none")
        + [
            "model.moe.num_experts=8",
            "model.moe.num_experts_per_tok=4",
            "model.moe.moe_intermediate_size=48",
            "model.moe.router_aux_loss_coef=0.01",
            "model.moe.router_z_loss_coef=0.001",
        ],
    ),
    ("05 G1 elementwise sigmoid", gate("sdpa")),
    ("06 G2 elementwise sigmoid", gate("value")),
    ("07 G3 elementwise sigmoid", gate("key")),
    ("08 G4 elementwise sigmoid", gate("query")),
    ("09 G5 dense sigmoid", gate("dense")),
    ("10 G1 headwise", gate("sdpa", granularity="headwise")),
    ("11 G2 headwise", gate("value", granularity="headwise")),
    ("12 G1 head-shared", gate("sdpa", sharing="head_shared")),
    ("13 G2 head-shared", gate("value", sharing="head_shared")),
    ("14 G1 additive silu", gate("sdpa", combine="add", activation="silu")),
    ("15 G1 elementwise silu", gate("sdpa", activation="silu")),
    ("16 SDPA per-head RMSNorm", gate("none") + ["model.sdpa_output_transform=rmsnorm"]),
    ("17 SDPA silu, no params", gate("none") + ["model.sdpa_output_transform=silu"]),
    ("18 G1 additive identity", gate("sdpa", combine="add", activation="identity")),
    ("19 G1 static", gate("sdpa", input_dependent="false")),
    ("20 G1 elementwise ns_sigmoid", gate("sdpa", activation="ns_sigmoid")),
    # Extra combinations.
    ("x G3 pre_norm", gate("key", qk_gate_point="pre_norm")),
    ("x G4 pre_norm", gate("query", qk_gate_point="pre_norm")),
    (
        "x G4 pre_norm, no qk_norm",
        gate("query", qk_gate_point="pre_norm") + ["model.qk_norm=false"],
    ),
    ("x G3 headwise post_rope", gate("key", granularity="headwise")),
    (
        "x G1 head-shared, average logits",
        gate("sdpa", sharing="head_shared", shared_average="logits"),
    ),
    (
        "x G2 headwise head-shared, average logits",
        gate("value", granularity="headwise", sharing="head_shared", shared_average="logits"),
    ),
    ("x G1 static headwise", gate("sdpa", granularity="headwise", input_dependent="false")),
    ("x G5 static", gate("dense", input_dependent="false")),
    ("x G2 additive identity", gate("value", combine="add", activation="identity")),
    ("x G1 + SDPA RMSNorm", gate("sdpa") + ["model.sdpa_output_transform=rmsnorm"]),
    # --randomize-all: static gate logits and norm weights away from their constant init.
    ("x G1 static, randomized", gate("sdpa", input_dependent="false") + [RANDOMIZE]),
    (
        "x G2 static headwise shared-logits, rand.",
        gate(
            "value",
            granularity="headwise",
            sharing="head_shared",
            shared_average="logits",
            input_dependent="false",
        )
        + [RANDOMIZE],
    ),
    (
        "x G5 static silu, randomized",
        gate("dense", input_dependent="false", activation="silu") + [RANDOMIZE],
    ),
    (
        "x SDPA RMSNorm + G1 headwise, randomized",
        gate("sdpa", granularity="headwise") + ["model.sdpa_output_transform=rmsnorm", RANDOMIZE],
    ),
]


def main():
    verbose = "-v" in sys.argv[1:]
    cases = [(c[0], TRAIN + c[1]) if c[1] is not None else c for c in CASES]
    return gatedlm_ref.run_parity_cases("gate parity", cases, STEPS, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())
