"""Expert parallelism under `mpirun -np 2` (EP=2 inside DP=2: each rank holds 4 of the 8 experts
of every MoE layer), each case against a single-process oracle of the same global batch:
- dropless, global-batch load balancing: EP=2 at micro-batch 2 vs one process at micro-batch 4
  (the global-batch counts make the aux loss that of the whole batch on both; at grad_accum 2
  the single process's first micro-batch would see only its own counts, docs/moe.md);
- the same at EP=2 x DP=4 on 4 ranks (micro-batch 1): two expert groups, so the expert
  gradients are summed over expert-data groups of 2 ranks;
- capacity dropping (factor 1), a G1 gate and a shared expert, micro-batch load balancing:
  EP=2 vs one process at grad_accum 2 (the capacity is per micro-batch of 2 sequences on both);
- EP=2 equals plain DP=2 bit for bit (same sums in the same order: the expert owner adds the two
  ranks' blocks one after the other, as the all-reduce adds the two ranks' gradients);
- checkpoints hold every expert: EP=2's step-2 checkpoint resumes at EP=2 bit for bit (each rank
  reading its own experts), on one process, and the single process's resumes at EP=2, the next
  losses matching the uninterrupted runs;
- comm_bytes_per_step at step 1 is exactly the scaling model's (scripts/
  parallel_scaling_model.py, moe-tiny) given the rows exchanged, which the logged routing gives;
- bad layouts are exit 2 with one line naming parallel.expert.

Tolerances (fp32; the runs differ only in the order of sums and in GEMM shapes):
- losses at every step within 1e-6 relative (as test_parallel_data.py);
- gradients within 1e-5 norm-wise relative per tensor (as test_parallel_tensor.py), read from
  AdamW's first moment after one unclipped step (exactly 0.1 x the gradient);
- parameters after 4 AdamW steps within 1e-5 norm-wise relative over the whole model. Not per
  element or per tensor: AdamW's first steps move each element by about lr * sign(gradient), so an
  element whose gradient is near zero (a sum that cancels to ~1e-9) moves by anything up to 2 lr
  when its rounding changes. One such element alone dominates its tensor (measured: 4.5e-5 of
  an expert weight's norm after one step) but is 2e-6 of the model's norm; a wrong gradient
  (a lost rank's tokens, a missing scale) moves every element of a tensor and fails this."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
from checkpoint_util import checkpoint_dir, make_shard, verify, work_dir  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import parallel_scaling_model as scaling  # noqa: E402
from parallel_util import (assert_close_losses, max_tensor_difference, mpi_train,  # noqa: E402
                           whole_model_relative_difference, worst_relative_difference)

STEPS = 4
EXPERTS, TOP_K = 8, 2  # dense-tiny's attention, 8 experts of 48, top-2 (the model's moe-tiny)


def moe(**extra):
    keys = dict(num_experts=EXPERTS, num_experts_per_tok=TOP_K, moe_intermediate_size=48,
                router_aux_loss_coef=0.01, router_z_loss_coef=0.001)
    keys.update(extra)
    return "{" + ", ".join(f"{k}: {v}" for k, v in keys.items()) + "}"


DROPLESS = dict(model__moe=moe(aux_loss_scope="global_batch"))
CAPACITY_G1 = dict(model__moe=moe(aux_loss_scope="micro_batch", capacity_factor=1.0,
                                  num_shared_experts=1),
                   model__attention_gate__position="sdpa")
# Unclipped, so step 1's first moment is exactly 0.1 x the gradient; a checkpoint every step.
COMMON = dict(train__max_grad_norm=0, checkpoint__interval=1)


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return {j["step"]: j for j in map(json.loads, f) if "loss" in j}


def assert_equivalent(name, ep_run, oracle):
    assert_close_losses(ep_run, oracle, 1e-6)
    grad, where = worst_relative_difference(checkpoint_dir(ep_run, 1), checkpoint_dir(oracle, 1),
                                            "optimizer")
    assert grad <= 1e-5, f"{name}: gradients differ by {grad} ({where})"
    params = whole_model_relative_difference(checkpoint_dir(ep_run, STEPS),
                                             checkpoint_dir(oracle, STEPS))
    assert params <= 1e-5, f"{name}: parameters after {STEPS} steps differ by {params}"
    print(f"PASS {name}: losses, gradients (worst {grad:.1e}) and parameters ({params:.1e})")


def exchanged_rows_step1(ep_run, oracle):
    """Rows rank 0 sent to rank 1's experts plus those it received, in step 1 (dropless)."""
    mine = metrics(ep_run)[1]["tokens_per_expert"]  # rank 0's routing, per layer
    both = metrics(oracle)[1]["tokens_per_expert"]  # both ranks' tokens in one batch
    half = EXPERTS // 2
    sent = sum(sum(layer[half:]) for layer in mine)
    received = sum(b - m for lb, lm in zip(both, mine) for b, m in zip(lb[:half], lm[:half]))
    return int(sent + received)


def main():
    tmp = work_dir("parallel_expert")
    data = make_shard(os.path.join(tmp, "data.bin"))
    run = lambda name: os.path.join(tmp, name)  # noqa: E731
    ep2 = dict(parallel__expert=2)

    # Dropless, global-batch balancing.
    mpi_train(0, run("ref"), data, STEPS, train__micro_batch_size=4, **DROPLESS, **COMMON)
    out = mpi_train(2, run("ep"), data, STEPS, **ep2, **DROPLESS, **COMMON)
    assert "data parallel 2, expert parallel 2" in out.output, out.output
    assert_equivalent("dropless EP=2 vs one process at micro-batch 4", run("ep"), run("ref"))

    mpi_train(4, run("ep_dp4"), data, STEPS, train__micro_batch_size=1, **ep2, **DROPLESS,
              **COMMON)
    assert_equivalent("dropless EP=2 x DP=4 vs one process at micro-batch 4", run("ep_dp4"),
                      run("ref"))

    mpi_train(2, run("dp"), data, STEPS, **DROPLESS, **COMMON)
    assert_close_losses(run("ep"), run("dp"), 0.0)
    for group in ("model", "optimizer"):
        diff, _ = max_tensor_difference(checkpoint_dir(run("ep"), STEPS),
                                        checkpoint_dir(run("dp"), STEPS), group)
        assert diff == 0.0, f"EP=2 vs DP=2 {group}: max |diff| {diff}"
    print("PASS EP=2 == plain DP=2 bit for bit")

    # Each expert rank wrote its own experts (EP=2 x DP=4: the first rank of each expert-data
    # group); model.h5 maps them, and rank 0's file holds the replicated tensors.
    for name in ("ep", "ep_dp4"):
        final = checkpoint_dir(run(name), STEPS)
        files = sorted(f for f in os.listdir(final) if f.endswith(".h5"))
        assert files == ["model-ep00-of-02.h5", "model-ep01-of-02.h5", "model.h5"], files
        with h5py.File(os.path.join(final, "model.h5"), "r") as f:
            owner = {key: {s.file_name for s in ds.virtual_sources()}
                     for key, ds in f["model"].items()}
        assert owner["model.layers.1.mlp.experts.5.up_proj.weight"] == {files[1]}, owner
        assert owner["model.layers.1.mlp.experts.3.up_proj.weight"] == {files[0]}, owner
        assert owner["model.norm.weight"] == {files[0]}, owner
        verify(final)
    print("PASS expert ranks write their own experts' files; verify passes")

    logged = metrics(run("ep"))[1]["comm_bytes_per_step"]
    rows = exchanged_rows_step1(run("ep"), run("ref"))
    predicted = scaling.step_bytes(scaling.model_dims("moe-tiny"), data=2, expert=2, micro_batch=2,
                                   seq_len=16, act_bytes=4, exchanged_rows=rows)
    assert logged == sum(predicted.values()), f"step 1 bytes {logged}, model {predicted}"
    balanced = scaling.step_bytes(scaling.model_dims("moe-tiny"), data=2, expert=2, micro_batch=2,
                                  seq_len=16, act_bytes=4)["expert"]
    print(f"PASS comm_bytes_per_step at step 1 = {logged} = the scaling model's {predicted} "
          f"({rows} rows exchanged; balanced routing would make the EP term {balanced})")

    # Capacity dropping, a G1 gate and a shared expert.
    mpi_train(0, run("ref_cap"), data, STEPS, train__grad_accum_steps=2, **CAPACITY_G1, **COMMON)
    mpi_train(2, run("ep_cap"), data, STEPS, **ep2, **CAPACITY_G1, **COMMON)
    dropped = [metrics(run(r))[1]["dropped_fraction"] for r in ("ref_cap", "ep_cap")]
    assert all(d > 0 for d in dropped), f"capacity 1.0 dropped nothing: {dropped}"
    assert_equivalent("capacity 1.0 + G1 + shared expert EP=2 vs one process at grad_accum 2",
                      run("ep_cap"), run("ref_cap"))

    # The same layout: each expert rank reads back the replicated tensors and its own experts
    # only, and the run continues bit for bit.
    mpi_train(2, run("ep_again"), data, STEPS, **ep2, **DROPLESS, **COMMON,
              extra=["--resume", checkpoint_dir(run("ep"), 2)])
    assert_close_losses(run("ep_again"), run("ep"), 0.0, steps=[3, 4])
    for group in ("model", "optimizer"):
        diff, _ = max_tensor_difference(checkpoint_dir(run("ep_again"), STEPS),
                                        checkpoint_dir(run("ep"), STEPS), group)
        assert diff == 0.0, f"EP=2 resumed at EP=2 {group}: max |diff| {diff}"
    print("PASS EP=2 resumes at EP=2 from its own experts, bit for bit")

    # Resharding both ways from step 2.
    mpi_train(0, run("to_ep1"), data, STEPS, train__micro_batch_size=4, **DROPLESS, **COMMON,
              extra=["--resume", checkpoint_dir(run("ep"), 2)])
    assert_close_losses(run("to_ep1"), run("ep"), 1e-6, steps=[3, 4])
    mpi_train(2, run("to_ep2"), data, STEPS, **ep2, **DROPLESS, **COMMON,
              extra=["--resume", checkpoint_dir(run("ref"), 2)])
    assert_close_losses(run("to_ep2"), run("ref"), 1e-6, steps=[3, 4])
    print("PASS resharding EP=2 -> one process and one process -> EP=2")

    for ranks, overrides, what in [(0, dict(parallel__expert=2), "divisor of the data-parallel"),
                                   (2, dict(parallel__expert=2, model__moe=moe(num_experts=7)),
                                    "parallel.expert"),
                                   (0, dict(parallel__expert=2, model__moe="null"),
                                    "parallel.expert")]:
        settings = dict(DROPLESS, **overrides)
        bad = mpi_train(ranks, run("bad"), data, STEPS, check_rc=2, **settings)
        line = bad.stderr.strip().splitlines()[0]
        assert what in line and "parallel.expert" in line, bad.stderr
    print("PASS bad expert layouts are exit 2")
    print("all passed")


if __name__ == "__main__":
    main()
