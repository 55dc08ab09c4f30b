"""train.recompute end to end: selective and full recomputation give bitwise the losses and
the checkpoint (parameters and AdamW moments) of storing every activation, single-process
(dense G1 and MoE) and under mpirun with tensor parallelism (TP=2, a head-shared gate: the
recomputed forward repeats its all-reduces) and expert parallelism (EP=2: the recomputed MoE
forward repeats its all-to-all)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from checkpoint_util import checkpoint_dir, loss_texts, make_shard, tensors, work_dir  # noqa: E402
from parallel_util import mpi_train  # noqa: E402

STEPS = 3
MOE = "{num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 32, num_shared_experts: 1}"


def same_run(a, b):
    assert loss_texts(a) == loss_texts(b), (loss_texts(a), loss_texts(b))
    for group in ("model", "optimizer"):
        ta, tb = tensors(checkpoint_dir(a, STEPS), group), tensors(checkpoint_dir(b, STEPS), group)
        assert ta.keys() == tb.keys()
        for name in ta:
            assert np.array_equal(ta[name], tb[name]), f"{group}/{name} differs"


def main():
    work = work_dir("recompute")
    data = make_shard(os.path.join(work, "train.bin"))
    cases = [
        ("g1", 0, {"model__attention_gate__position": "sdpa"}),
        ("moe", 0, {"model__moe": MOE, "train__grad_accum_steps": 2}),
        ("tp2", 2, {"parallel__tensor": 2, "model__attention_gate__position": "sdpa",
                    "model__attention_gate__sharing": "head_shared"}),
        ("ep2", 2, {"parallel__expert": 2, "model__moe": MOE}),
    ]
    for name, ranks, overrides in cases:
        runs = {}
        for mode in ("none", "selective", "full"):
            runs[mode] = os.path.join(work, f"{name}-{mode}")
            mpi_train(ranks, runs[mode], data, STEPS, train__recompute=mode, **overrides)
        for mode in ("selective", "full"):
            same_run(runs["none"], runs[mode])
        print(f"{name}: selective and full are bitwise none over {STEPS} steps")


if __name__ == "__main__":
    main()
