"""Shared helpers for the checkpoint end-to-end tests (tests/integration/test_checkpoint_*.py).

Each test makes its own llm.c token shard and trains the tiny dense model for a few steps, on two
threads so the CPU reductions (and so the losses) are reproducible bit for bit.
"""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

GATEDLM = os.environ.get("GATEDLM", "build/gatedlm")
SOURCE_DIR = os.environ.get("GATEDLM_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
MODEL_CONFIG = os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml")
ENV = dict(os.environ, OMP_NUM_THREADS="2", GATEDLM_THREADS="2", OPENBLAS_NUM_THREADS="1")


def work_dir(name):
    """A fresh temporary directory, readable by other users (the write-failure test drops root)."""
    path = tempfile.mkdtemp(prefix=f"gatedlm_{name}_")
    os.chmod(path, 0o755)
    return path


def make_shard(path, tokens=20000, seed=0):
    """An llm.c uint16 shard of byte-valued tokens with some structure to learn."""
    rng = np.random.default_rng(seed)
    base = (np.arange(tokens) * 7) % 251
    data = (base ^ rng.integers(0, 4, tokens)).astype(np.uint16)
    header = np.zeros(256, np.int32)
    header[:3] = [20240520, 1, tokens]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(data.tobytes())
    os.chmod(path, 0o644)
    return path


def train_args(data, steps, **overrides):
    """`gatedlm train` arguments for the tiny model; overrides are dotted keys with _ for ."""
    settings = {
        "data.train": data,
        "train.steps": steps,
        "train.seq_len": 16,
        "train.micro_batch_size": 2,
        "train.log_interval": 1,
        "train.eval_interval": 0,
        "checkpoint.keep_last": 100,
    }
    settings.update({k.replace("__", "."): v for k, v in overrides.items()})
    args = [GATEDLM, "train", MODEL_CONFIG]
    for key, value in settings.items():
        args += ["--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    return args


def run(args, check_rc=0, env=ENV, **kwargs):
    result = subprocess.run(args, env=env, capture_output=True, text=True, **kwargs)
    result.output = result.stdout + result.stderr  # logs go to stdout, errors to stderr
    if check_rc is not None and result.returncode != check_rc:
        sys.stderr.write(result.stdout + result.stderr)
        raise AssertionError(f"{' '.join(map(str, args))}: exit {result.returncode}, "
                             f"expected {check_rc}")
    return result


def train(run_dir, data, steps, check_rc=0, extra=(), **overrides):
    return run(train_args(data, steps, **overrides) + ["--run-dir", run_dir, *extra], check_rc)


LOSS = re.compile(r'"loss":([^,}]+)')
STEP = re.compile(r'"step":(\d+)')


def loss_texts(run_dir):
    """step -> the loss exactly as written in metrics.jsonl (train lines only)."""
    out = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            loss = LOSS.search(line)
            if loss:
                step = int(STEP.search(line).group(1))
                assert step not in out, f"step {step} logged twice in {run_dir}"
                out[step] = loss.group(1)
    return out


def checkpoint_dir(run_dir, step):
    return os.path.join(run_dir, "checkpoints", f"step_{step:08d}")


def latest_dir(run_dir):
    with open(os.path.join(run_dir, "checkpoints", "latest")) as f:
        return os.path.join(run_dir, "checkpoints", f.read().strip())


def complete_steps(run_dir):
    root = os.path.join(run_dir, "checkpoints")
    return sorted(int(n[5:]) for n in os.listdir(root)
                  if n.startswith("step_") and os.path.exists(os.path.join(root, n, "COMPLETE")))


def tensors(ckpt_dir, group="model"):
    """name -> array of every dataset under `group`, read with plain h5py."""
    with h5py.File(os.path.join(ckpt_dir, "model.h5"), "r") as f:
        out = {}
        f[group].visititems(lambda name, obj: out.__setitem__(name, obj[()])
                            if isinstance(obj, h5py.Dataset) else None)
        return out


def assert_same_tensors(a_dir, b_dir, group="model"):
    a, b = tensors(a_dir, group), tensors(b_dir, group)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), \
            f"{group}/{name} differs between {a_dir} and {b_dir}"


def data_offset(h5_path, dataset):
    with h5py.File(h5_path, "r") as f:
        return f[dataset].id.get_offset()


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x40]))


def verify(path, check_rc=0):
    return run([GATEDLM, "checkpoint", "verify", path], check_rc)
