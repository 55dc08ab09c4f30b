"""Every variant of configs/sweeps/gating-ablation.yaml trains from YAML with
`gatedlm train base.yaml --set ...` (a few steps on a small shard), loss finite and decreasing
across its steps, and its parameter count matches the paper's formula."""
import json
import os
import random

import yaml

from common import SOURCE_DIR, Checks, run, temp_dir, write_shard

checks = Checks()
work = temp_dir("gates")
rng = random.Random(0)
# Text-like bytes with structure so that a few steps lower the loss.
words = [bytes(w, "ascii") for w in "the quick brown fox jumps over a lazy dog and runs far away".split()]
stream = b" ".join(rng.choice(words) for _ in range(20000))
write_shard(os.path.join(work, "train-00000.bin"), list(stream))
write_shard(os.path.join(work, "val-00000.bin"), list(stream[:4000]))

spec_path = os.path.join(SOURCE_DIR, "configs", "sweeps", "gating-ablation.yaml")
spec = yaml.safe_load(open(spec_path))
base = os.path.normpath(os.path.join(os.path.dirname(spec_path), spec["base"]))
fast = ["--set", "train.steps=8", "--set", "train.seq_len=32", "--set", "train.micro_batch_size=4",
        "--set", "train.log_interval=1", "--set", "train.eval_interval=0", "--set", "train.eval_batches=1",
        "--set", "train.analyze_interval=8", "--set", "scheduler.warmup_steps=0",
        "--set", f"data.train={work}/train-*.bin", "--set", f"data.val={work}/val-*.bin"]


def param_count(run_dir):
    import h5py
    step = open(os.path.join(run_dir, "checkpoints", "latest")).read().strip()
    with h5py.File(os.path.join(run_dir, "checkpoints", step, "model.h5"), "r") as f:
        return sum(int(ds.size) for ds in f["model"].values())


counts = {}
for name, overrides in spec["variants"].items():
    sets = []
    for key, value in (overrides or {}).items():
        sets += ["--set", f"{key}={value}"]
    run_dir = os.path.join(work, name)
    run(["train", base, "--run-dir", run_dir] + fast + sets)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    losses = [l["loss"] for l in lines if "loss" in l]
    analysis = [l for l in lines if "first_token_attn" in l]
    checks.check(len(losses) == 8 and losses[-1] < losses[0], f"{name}: trains ({losses[0]:.3f} -> {losses[-1]:.3f})")
    gated = "model.attention_gate.position" in (overrides or {})
    checks.check(bool(analysis) and (analysis[-1]["gate_score"] is not None) == gated, f"{name}: analysis logged, gate score iff gated")
    counts[name] = param_count(run_dir)

# Parameters added = layers x hidden x gate width (static gates: the width alone).
cfg = yaml.safe_load(open(os.path.join(os.path.dirname(base), "tiny-cpu.yaml")))["model"]
layers, hidden, heads, kv, head_dim = cfg["num_hidden_layers"], cfg["hidden_size"], 8, 2, 16
expected_extra = {
    "r05-g1-elementwise": layers * hidden * heads * head_dim,
    "r06-g2-elementwise": layers * hidden * kv * head_dim,
    "r07-g3-elementwise": layers * hidden * kv * head_dim,
    "r08-g4-elementwise": layers * hidden * heads * head_dim,
    "r09-g5-dense": layers * hidden * hidden,
    "r10-g1-headwise": layers * hidden * heads,
    "r11-g2-headwise": layers * hidden * kv,
    "r12-g1-head-shared": layers * hidden * heads * head_dim,
    "r13-g2-head-shared": layers * hidden * kv * head_dim,
    "r14-g1-additive-silu": layers * hidden * heads * head_dim,
    "r15-g1-elementwise-silu": layers * hidden * heads * head_dim,
    "r16-sdpa-rmsnorm": layers * head_dim,
    "r17-sdpa-silu": 0,
    "r18-g1-additive-identity": layers * hidden * heads * head_dim,
    "r19-g1-static": layers * heads * head_dim,
    "r20-g1-ns-sigmoid": layers * hidden * heads * head_dim,
}
for name, extra in expected_extra.items():
    got = counts[name] - counts["r01-baseline"]
    checks.check(got == extra, f"{name}: +{got} parameters, formula {extra}")
checks.finish()
