"""A tiny MoE with G1 gates trains from YAML (configs/train/moe-tiny-cpu.yaml) on real text: the
val loss falls well below the unigram entropy, metrics.jsonl carries the router losses, expert
load and drops, `gatedlm analyze` reports them per layer, and a capacity-limited run drops
tokens and still learns. The text is the one test_train_real_text.py uses. One thread: these
tensors are tiny, and spinning OpenMP/OpenBLAS threads only slow down on a shared machine."""
import collections
import json
import math
import os
import subprocess

from common import SOURCE_DIR, Checks, run, temp_dir

checks = Checks()
text = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "get_text.sh")], capture_output=True, text=True, check=True).stdout.strip()
work = temp_dir("moe")
shards = os.path.join(work, "shards")
run(["prepare", "--tokenizer", "bytes", "--input", text, "--out", shards, "--val-fraction", "0.05"])
with open(os.path.join(shards, "val-00000.bin"), "rb") as f:
    f.seek(1024)
    val_bytes = f.read()[0::2]
counts = collections.Counter(val_bytes)
unigram_entropy = -sum(c / len(val_bytes) * math.log(c / len(val_bytes)) for c in counts.values())

common = [
    "--set", "model.hidden_size=64", "--set", "model.num_hidden_layers=2", "--set", "model.num_attention_heads=4",
    "--set", "model.num_key_value_heads=4", "--set", "model.head_dim=16", "--set", "model.moe.moe_intermediate_size=48",
    "--set", "train.seq_len=64", "--set", "train.micro_batch_size=8", "--set", "train.eval_batches=16",
    "--set", "train.log_interval=20", "--set", "scheduler.warmup_steps=20",
    "--set", f"data.train={shards}/train-*.bin", "--set", f"data.val={shards}/val-*.bin",
]
config = os.path.join(SOURCE_DIR, "configs", "train", "moe-tiny-cpu.yaml")
ONE_THREAD = {"GATEDLM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
runs = [
    # 200 steps of 2 accumulated micro-batches: the global-batch aux loss spans both.
    ("moe-g1", 2, ["--set", "train.steps=200", "--set", "train.grad_accum_steps=2", "--set", "train.eval_interval=100",
                   "--set", "train.analyze_interval=200"]),
    ("moe-g1-capacity", 1, ["--set", "train.steps=200", "--set", "train.eval_interval=200", "--set", "train.analyze_interval=200",
                            "--set", "model.moe.capacity_factor=1.0"]),
]
for name, accum, extra in runs:
    run_dir = os.path.join(work, name)
    run(["train", config, "--run-dir", run_dir] + common + extra, env=ONE_THREAD)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [l for l in lines if "loss" in l]
    evals = [l for l in lines if "val_loss" in l]
    analysis = [l for l in lines if "first_token_attn" in l]
    final_val = evals[-1]["val_loss"]
    print(f"{name}: train loss {train[0]['loss']:.3f} -> {train[-1]['loss']:.3f}, val {final_val:.3f}, "
          f"aux {train[-1]['aux_loss']:.3f}, z {train[-1]['z_loss']:.3f}, imbalance {train[-1]['expert_imbalance']:.2f}, "
          f"dropped {train[-1]['dropped_fraction']:.3f}")
    checks.check(train[-1]["loss"] < train[0]["loss"] - 1.0, f"{name}: train loss decreases by > 1 nat")
    if accum == 2:
        checks.check(final_val < unigram_entropy - 0.5, f"{name}: val loss {final_val:.3f} < unigram entropy {unigram_entropy:.3f} - 0.5")
    last = train[-1]
    keys = ("aux_loss", "z_loss", "expert_imbalance", "max_expert_imbalance", "dropped_fraction", "tokens_per_expert")
    checks.check(all(k in last for k in keys), f"{name}: metrics.jsonl train lines carry the routing metrics")
    # 20 steps x accum micro-batches x 8 x 64 tokens x top-2 assignments per layer in a window.
    window = 20 * accum * 8 * 64 * 2
    checks.check(len(last["tokens_per_expert"]) == 2 and all(len(l) == 8 and sum(l) == window for l in last["tokens_per_expert"]),
                 f"{name}: tokens_per_expert counts every assignment of the log window")
    checks.check(0.99 <= last["aux_loss"] < 8 and last["z_loss"] > 0 and last["expert_imbalance"] >= 1, f"{name}: aux in [1, E), z > 0, imbalance >= 1")
    if "capacity" in name:
        checks.check(0 < last["dropped_fraction"] < 1, f"{name}: capacity 1.0 drops some tokens ({last['dropped_fraction']:.3f})")
    else:
        checks.check(last["dropped_fraction"] == 0, f"{name}: dropless drops nothing")
    checks.check(len(analysis) == 1 and "moe" in analysis[0] and analysis[0]["gate_score"] > 0, f"{name}: analysis line has gate score and moe")
    proc = run(["analyze", "--checkpoint", run_dir, "--data", f"{shards}/val-*.bin", "--seq-len", "64", "--batch-size", "8", "--batches", "4", "--json"], env=ONE_THREAD)
    out = json.loads(proc.stdout)
    layers = out["layers"]
    checks.check("moe" in out and all("moe" in l and len(l["moe"]["tokens_per_expert"]) == 8 for l in layers),
                 f"{name}: analyze --json reports routing per layer")
    checks.check(sum(layers[0]["moe"]["tokens_per_expert"]) == 4 * 8 * 64 * 2, f"{name}: analyze counts every assignment")
    text_out = run(["analyze", "--checkpoint", run_dir, "--data", f"{shards}/val-*.bin", "--seq-len", "64", "--batch-size", "8", "--batches", "2"], env=ONE_THREAD).stdout
    checks.check("imbalance" in text_out and "aux_loss" in text_out, f"{name}: analyze text prints the routing table")
checks.finish()
