#!/usr/bin/python3
"""Parity of the dense (ungated) model: gatedlm oracle-dump against the PyTorch oracle.

Runs `$GATEDLM oracle-dump $GATEDLM_SOURCE_DIR/configs/models/dense-tiny.yaml --set ...
--out dump.h5 --steps 10` for several shapes and schedules and checks logits, loss, every
gradient, the 10 optimizer steps (loss, lr, grad norm, final params) and the analysis metrics.
Fails (never skips) when GATEDLM is unset or the binary fails. `-v` prints every check.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gatedlm_ref  # noqa: E402

STEPS = 10

# Every train/optimizer/scheduler value the oracle's numbers depend on, set explicitly.
TRAIN = [
    "train.seed=1234",
    "train.precision=fp32",
    "train.seq_len=16",
    "train.micro_batch_size=3",
    "train.steps=10",
    "train.grad_accum_steps=2",
    "train.max_grad_norm=0.5",
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
    "scheduler.warmup_steps=3",
    "scheduler.min_lr=3.0e-4",
]

CASES = [
    # train.steps=30 > the 10 dumped steps: the cosine must follow the run's total, not the dump's.
    ("a default shape, cosine over 30 steps", ["train.steps=30"]),
    (
        "b untied, no embedding decay, linear",
        [
            "model.tie_word_embeddings=false",
            "optimizer.decay_embeddings=false",
            "optimizer.betas=[0.9,0.99]",
            "optimizer.weight_decay=0.05",
            "scheduler.type=linear",
        ],
    ),
    (
        "c GQA 4 heads / 1 kv head, wsd",
        [
            "model.num_attention_heads=4",
            "model.num_key_value_heads=1",
            "scheduler.type=wsd",
            "scheduler.decay_fraction=0.5",
        ],
    ),
    (
        "d qk_norm false, constant, no clipping",
        ["model.qk_norm=false", "scheduler.type=constant", "train.max_grad_norm=0"],
    ),
    # H * head_dim != hidden_size: catches a confusion between the two widths.
    (
        "e 3 heads x head_dim 48, accum 3",
        [
            "model.num_attention_heads=3",
            "model.num_key_value_heads=3",
            "model.head_dim=48",
            "train.grad_accum_steps=3",
        ],
    ),
    # Norm weights away from 1: a norm that ignores or misapplies its weight shows up.
    ("f default shape, --randomize-all", ["--randomize-all"]),
]


def main():
    verbose = "-v" in sys.argv[1:]
    cases = [(name, TRAIN + overrides) for name, overrides in CASES]
    return gatedlm_ref.run_parity_cases("dense parity", cases, STEPS, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())
