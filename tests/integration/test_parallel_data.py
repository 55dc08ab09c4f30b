"""Data parallelism and ZeRO-1 under `mpirun -np 2`, each against its single-process oracle:
- DP=2 at micro-batch b equals DP=1 at grad_accum 2 (same global batch, same windows): every
  loss within 1e-6 relative, final parameters and AdamW moments within fp32 tolerance;
- ZeRO-1 equals plain DP bit for bit on two ranks (a sum of two numbers has one rounding);
- the gradient all-reduce overlapped with backward (small buckets) equals it after backward,
  bit for bit;
- a ZeRO-1 checkpoint resumes at the same layout bit for bit (each rank reading its own block of
  the moments), and reshards: written at DP=2 with ZeRO-1, resumed at DP=1 (and the reverse), the
  next steps' losses match the uninterrupted run, optimizer state included;
- only rank 0 writes (one metrics line per step) and the per-step byte count is the ring model's;
- a bad layout is exit 2 with one line naming parallel.tensor."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
from checkpoint_util import checkpoint_dir, make_shard, verify, work_dir  # noqa: E402
from parallel_util import assert_close_losses, max_tensor_difference, mpi_train  # noqa: E402

STEPS = 4
PARAMS = 115072  # configs/models/dense-tiny.yaml


def main():
    tmp = work_dir("parallel_data")
    data = make_shard(os.path.join(tmp, "data.bin"))
    run = lambda name: os.path.join(tmp, name)  # noqa: E731
    final = lambda name: checkpoint_dir(run(name), STEPS)  # noqa: E731

    # The single-process oracle, checkpointing half-way for the resharding case.
    mpi_train(0, run("dp1"), data, STEPS, train__grad_accum_steps=2, checkpoint__interval=2)
    out = mpi_train(2, run("dp2"), data, STEPS, checkpoint__interval=2)
    assert "tensor parallel 1, data parallel 2" in out.output, out.output
    # mpirun gives ranks a pseudo-terminal; piped output must still carry no colour codes.
    assert "\x1b[" not in out.output, repr(out.output[:300])
    assert_close_losses(run("dp2"), run("dp1"), 1e-6)
    for group in ("model", "optimizer"):
        diff, scale = max_tensor_difference(final("dp2"), final("dp1"), group)
        assert diff <= 1e-5 * scale, f"DP=2 vs DP=1 {group}: max |diff| {diff} (scale {scale})"
    print(f"PASS DP=2 vs DP=1 x grad_accum 2: losses and tensors agree")

    # Only rank 0 writes metrics (loss_texts refuses a step logged twice); bytes per step as the
    # ring all-reduce of every gradient plus the loss mean.
    with open(os.path.join(run("dp2"), "metrics.jsonl")) as f:
        lines = [line for line in f if '"loss"' in line]
    assert len(lines) == STEPS, lines
    expected = PARAMS * 4 + 8  # 2(p-1)/p = 1 for p = 2
    assert all(f'"comm_bytes_per_step":{expected}' in line for line in lines), lines
    print(f"PASS comm_bytes_per_step = {expected} (ring model)")

    # Overlap: small buckets (15 of 8192 floats) whose all-reduces start during the last
    # micro-batch's backward give the same bits as starting them all after backward.
    buckets = {"parallel__grad_bucket_size": 8192, "train__grad_accum_steps": 2}
    mpi_train(2, run("overlap"), data, STEPS, **buckets)
    mpi_train(2, run("serial"), data, STEPS, parallel__overlap_grad_reduce="false", **buckets)
    assert_close_losses(run("overlap"), run("serial"), 0.0)
    for group in ("model", "optimizer"):
        diff, _ = max_tensor_difference(final("overlap"), final("serial"), group)
        assert diff == 0.0, f"overlapped vs serial gradient reduction {group}: max |diff| {diff}"
    print("PASS DP=2 gradient all-reduce overlapped with backward == after backward, bit for bit")

    mpi_train(2, run("zero"), data, STEPS, parallel__zero=1, checkpoint__interval=2)
    assert_close_losses(run("zero"), run("dp2"), 0.0)
    for group in ("model", "optimizer"):
        diff, _ = max_tensor_difference(final("zero"), final("dp2"), group)
        assert diff == 0.0, f"ZeRO-1 vs plain DP {group}: max |diff| {diff}"
    print("PASS ZeRO-1 == plain DP bit for bit")

    # Each ZeRO-1 rank wrote its own block of the moments; model.h5 maps the blocks (cut
    # anywhere, so a tensor can come from both files) into whole tensors.
    files = sorted(f for f in os.listdir(final("zero")) if f.endswith(".h5"))
    assert files == ["model-tp00-of-01.h5", "model.h5", "moments-tp00-of-01-dp00-of-02.h5",
                     "moments-tp00-of-01-dp01-of-02.h5"], files
    with h5py.File(os.path.join(final("zero"), "model.h5"), "r") as f:
        moment_files = set()
        for name, ds in f["optimizer/exp_avg"].items():
            assert ds.is_virtual, name
            sources = {s.file_name for s in ds.virtual_sources()}
            moment_files |= sources
            if len(sources) == 2:
                split = name
        assert moment_files == set(files[2:]), moment_files
        assert f.attrs["shards"] == 3, dict(f.attrs)
    verify(final("zero"))
    print(f"PASS ZeRO-1 ranks write their own moments files ({split} spans both); verify passes")

    # The same layout: each ZeRO-1 rank reads back just its block of the moments, and the run
    # continues bit for bit.
    half = checkpoint_dir(run("zero"), 2)
    mpi_train(2, run("zero_again"), data, STEPS, parallel__zero=1, extra=["--resume", half])
    assert_close_losses(run("zero_again"), run("zero"), 0.0, steps=[3, 4])
    for group in ("model", "optimizer"):
        diff, _ = max_tensor_difference(final("zero_again"), final("zero"), group)
        assert diff == 0.0, f"ZeRO-1 DP=2 resumed at DP=2 {group}: max |diff| {diff}"
    print("PASS ZeRO-1 DP=2 resumes at DP=2 from its own moments blocks, bit for bit")

    # Resharding: ZeRO-1 DP=2's step-2 checkpoint resumed by one process, and the reverse.
    mpi_train(0, run("to_dp1"), data, STEPS, train__grad_accum_steps=2, extra=["--resume", half])
    assert_close_losses(run("to_dp1"), run("dp1"), 1e-6, steps=[3, 4])
    diff, scale = max_tensor_difference(final("to_dp1"), final("dp1"), "optimizer")
    assert diff <= 1e-5 * scale, f"DP=2 -> DP=1 moments: max |diff| {diff}"
    mpi_train(2, run("to_dp2"), data, STEPS, parallel__zero=1,
              extra=["--resume", checkpoint_dir(run("dp1"), 2)])
    assert_close_losses(run("to_dp2"), run("zero"), 1e-6, steps=[3, 4])
    diff, scale = max_tensor_difference(final("to_dp2"), final("zero"), "optimizer")
    assert diff <= 1e-5 * scale, f"DP=1 -> DP=2 moments: max |diff| {diff}"
    print("PASS resharding DP=2 (ZeRO-1) -> DP=1 and DP=1 -> DP=2 (ZeRO-1)")

    bad = mpi_train(3, run("bad"), data, STEPS, check_rc=2, parallel__tensor=2)
    line = bad.stderr.strip().splitlines()[0]
    assert "parallel.tensor" in line and "divisor of the 3 processes" in line, bad.stderr
    print("PASS parallel.tensor that does not divide the world is exit 2")
    print("all passed")


if __name__ == "__main__":
    main()
