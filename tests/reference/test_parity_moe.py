#!/usr/bin/python3
"""Parity of the mixture-of-experts model: gatedlm oracle-dump against the PyTorch oracle.

Each case: one forward/backward (logits, cross-entropy, the router's aux and z losses per layer,
tokens per expert and dropped tokens exactly, every gradient including the router's) and 3
AdamW steps with gradient accumulation 2, so the global-batch load-balancing loss runs on the
step's running expert counts (docs/moe.md). The oracle rejects a case whose routing comes within
1e-4 (log-probability) of a top-k tie instead of comparing it.
Fails (never skips) when GATEDLM is unset or the binary fails. `-v` prints every check.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gatedlm_ref  # noqa: E402

STEPS = 3

TRAIN = [
    "train.seed=2468",
    "train.precision=fp32",
    "train.seq_len=16",
    "train.micro_batch_size=2",
    "train.steps=3",
    "train.grad_accum_steps=2",
    "train.max_grad_norm=1.0",
    "optimizer.type=adamw",
    "optimizer.lr=3.0e-3",
    "optimizer.eps=1.0e-6",  # see test_parity_gates.py
    "optimizer.weight_decay=0.1",
    "optimizer.decay_embeddings=true",
    "scheduler.type=cosine",
    "scheduler.warmup_steps=2",
    "scheduler.min_lr=3.0e-4",
]

MOE = "model.moe."


def moe(experts=8, top_k=2, inter=32, **keys):
    overrides = [
        f"{MOE}num_experts={experts}",
        f"{MOE}num_experts_per_tok={top_k}",
        f"{MOE}moe_intermediate_size={inter}",
        f"{MOE}router_aux_loss_coef=0.05",
        f"{MOE}router_z_loss_coef=0.01",
    ]
    return overrides + [f"{MOE}{key}={value}" for key, value in keys.items()]


CASES = [
    ("a top-2 of 8, global-batch aux", moe()),
    ("b top-2 raw weights, micro-batch aux", moe(norm_topk_prob="false", aux_loss_scope="micro_batch")),
    ("c gated shared expert", moe(num_shared_experts=1)),
    (
        "d 2 ungated shared, first layer dense, 3 layers",
        moe(num_shared_experts=2, shared_expert_gate="false", first_k_dense_replace=1)
        + ["model.num_hidden_layers=3"],
    ),
    ("e G1 gate on top-4 of 8", moe(top_k=4) + ["model.attention_gate.position=sdpa"]),
    (
        "f capacity 0.5 drops, every 2nd layer, 4 layers",
        moe(capacity_factor=0.5, decoder_sparse_step=2) + ["model.num_hidden_layers=4"],
    ),
    (
        "g top-1 of 4, untied, G1 headwise, randomized",
        moe(experts=4, top_k=1, inter=48)
        + [
            "model.tie_word_embeddings=false",
            "model.attention_gate.position=sdpa",
            "model.attention_gate.granularity=headwise",
            "--randomize-all",
        ],
    ),
]


def main():
    verbose = "-v" in sys.argv[1:]
    cases = [(name, TRAIN + overrides) for name, overrides in CASES]
    return gatedlm_ref.run_parity_cases("moe parity", cases, STEPS, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())
