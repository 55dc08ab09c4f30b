"""Shared helpers for the sweep tests: a tiny sweep spec over the tiny dense model, running
gatedlm, reading metrics.jsonl."""
import json
import os
import subprocess

import checkpoint_util
from checkpoint_util import GATEDLM, SOURCE_DIR, make_shard, train_args, work_dir  # noqa: F401

# One thread per process: these machines are small and shared, and OpenMP threads that spin-wait
# on a busy CPU make a millisecond step take seconds. (Results do not depend on the count.)
ENV = dict(checkpoint_util.ENV, OMP_NUM_THREADS="1", GATEDLM_THREADS="1")

MODEL_CONFIG = os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml")


def write_spec(path, data, body, steps=12, extra="", interval=6):
    """A spec on the tiny model; `body` holds its variants/grid/seeds, `extra` more config;
    eval and analysis every `interval` steps."""
    with open(path, "w") as f:
        f.write(f"base: {MODEL_CONFIG}\n{body}\n"
                f"train: {{steps: {steps}, seq_len: 16, micro_batch_size: 2, log_interval: 1, "
                f"eval_interval: {interval}, eval_batches: 2, analyze_interval: {interval}}}\n"
                f"data: {{train: {data}, val: {data}}}\n"
                f"checkpoint: {{interval: 4, keep_last: 2}}\n{extra}")
    return path


def gatedlm(*args, cwd=None, check=True, timeout=300):
    proc = subprocess.run([GATEDLM, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"gatedlm {' '.join(args)}: exit {proc.returncode}\n" \
                                     f"{proc.stdout}\n{proc.stderr}"
    return proc


def train(run_dir, data, steps, **overrides):
    """gatedlm train on the tiny model (checkpoint_util.train_args), checked to exit 0."""
    proc = subprocess.run(train_args(data, steps, **overrides) + ["--run-dir", run_dir], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def train_losses(run_dir):
    """step -> loss of the train lines."""
    return {j["step"]: j["loss"] for j in metrics(run_dir) if "loss" in j and "event" not in j}


def events(run_dir, kind):
    return [j for j in metrics(run_dir) if j.get("event") == kind]
