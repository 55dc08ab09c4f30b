"""Shared helpers for the parallel end-to-end tests (tests/integration/test_parallel_*.py):
`gatedlm train` under `mpirun --oversubscribe` on the tiny model, one thread per rank, and
comparisons of losses and checkpoint tensors within fp32 tolerance."""
import os
import shutil

import numpy as np

from checkpoint_util import ENV, loss_texts, run, tensors, train_args

MPIRUN = shutil.which("mpirun") or "/usr/bin/mpirun"
MPI_ENV = dict(ENV, OMP_NUM_THREADS="1", GATEDLM_THREADS="1", OPENBLAS_NUM_THREADS="1")
# Constant LR, every step logged, no eval: a short run whose every loss can be compared.
BASE = {"scheduler__type": "constant", "scheduler__warmup_steps": 0, "train__log_interval": 1,
        "train__eval_interval": 0}


def mpi_train(ranks, run_dir, data, steps, check_rc=0, extra=(), **overrides):
    """`gatedlm train` on `ranks` MPI processes (a plain process when ranks is 0)."""
    args = train_args(data, steps, **dict(BASE, **overrides)) + ["--run-dir", run_dir, *extra]
    if ranks:
        args = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", str(ranks)] + args
    return run(args, check_rc, env=MPI_ENV, timeout=300)


def losses(run_dir):
    return {step: float(text) for step, text in loss_texts(run_dir).items()}


def assert_close_losses(a_dir, b_dir, rtol, steps=None):
    a, b = losses(a_dir), losses(b_dir)
    keys = sorted(steps if steps is not None else a.keys())
    assert keys and all(k in a and k in b for k in keys), (a, b)
    for k in keys:
        assert abs(a[k] - b[k]) <= rtol * abs(b[k]), f"step {k}: loss {a[k]} vs {b[k]}"


def max_tensor_difference(a_dir, b_dir, group):
    """The largest |a - b| over every tensor of `group`, and the largest |b| (for scale)."""
    a, b = tensors(a_dir, group), tensors(b_dir, group)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diff = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
    scale = max(float(np.max(np.abs(b[k]))) for k in b)
    return diff, scale
