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


def worst_relative_difference(a_dir, b_dir, group):
    """The largest norm-wise relative difference ||a - b|| / ||b|| over the tensors of `group`,
    and the tensor it occurs in
    (the oracle's measure, tests/reference/README.md); a few elements whose AdamW update
    direction rounding flips cannot dominate it the way they dominate max |a - b|."""
    a, b = tensors(a_dir, group), tensors(b_dir, group)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    worst, worst_key = 0.0, None
    for k in a:
        norm = float(np.linalg.norm(b[k].astype(np.float64)))
        diff = float(np.linalg.norm(a[k].astype(np.float64) - b[k]))
        rel = diff / norm if norm > 0 else diff
        if rel >= worst:
            worst, worst_key = rel, k
    return worst, worst_key


def whole_model_relative_difference(a_dir, b_dir):
    """||a - b|| / ||b|| over every parameter of the model at once."""
    a, b = tensors(a_dir, "model"), tensors(b_dir, "model")
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diff = sum(float(np.sum((a[k].astype(np.float64) - b[k]) ** 2)) for k in a)
    norm = sum(float(np.sum(b[k].astype(np.float64) ** 2)) for k in b)
    return (diff / norm) ** 0.5


def most_elements_off(a_dir, b_dir, group, atol):
    """The largest share of one tensor of `group` whose elements differ by more than `atol`:
    (that many elements, the tensor's size, its name)."""
    a, b = tensors(a_dir, group), tensors(b_dir, group)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    off = {k: int(np.sum(np.abs(a[k].astype(np.float64) - b[k]) > atol)) for k in a}
    key = max(off, key=lambda k: off[k] / b[k].size)
    return off[key], b[key].size, key


def max_tensor_difference(a_dir, b_dir, group):
    """The largest |a - b| over every tensor of `group`, and the largest |b| (for scale)."""
    a, b = tensors(a_dir, group), tensors(b_dir, group)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diff = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
    scale = max(float(np.max(np.abs(b[k]))) for k in b)
    return diff, scale
