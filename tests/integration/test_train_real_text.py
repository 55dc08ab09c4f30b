"""A tiny baseline and a tiny G1-elementwise model train on real text: byte-level val loss must
fall well below the unigram entropy of the val bytes (what a model that ignores context gets).
The text is the shared tinyshakespeare when present, else real English prose fetched through
apt by scripts/get_text.sh."""
import collections
import json
import math
import os
import subprocess

from common import SOURCE_DIR, Checks, run, temp_dir

checks = Checks()
text = subprocess.run(["bash", os.path.join(SOURCE_DIR, "scripts", "get_text.sh")], capture_output=True, text=True, check=True).stdout.strip()
work = temp_dir("realtext")
shards = os.path.join(work, "shards")
run(["prepare", "--tokenizer", "bytes", "--input", text, "--out", shards, "--val-fraction", "0.05"])

with open(os.path.join(shards, "val-00000.bin"), "rb") as f:
    f.seek(1024)
    val = f.read()
val_bytes = val[0::2]  # uint16 little-endian tokens < 256: the low bytes
counts = collections.Counter(val_bytes)
unigram_entropy = -sum(c / len(val_bytes) * math.log(c / len(val_bytes)) for c in counts.values())
print(f"val tokens {len(val_bytes)}, unigram entropy {unigram_entropy:.3f} nats")

common = [
    "--set", "model.hidden_size=64", "--set", "model.num_hidden_layers=2", "--set", "model.num_attention_heads=4",
    "--set", "model.num_key_value_heads=4", "--set", "model.head_dim=16", "--set", "model.intermediate_size=192",
    "--set", "train.steps=250", "--set", "train.seq_len=64", "--set", "train.micro_batch_size=16",
    "--set", "train.eval_interval=125", "--set", "train.eval_batches=16", "--set", "train.log_interval=25",
    "--set", "train.analyze_interval=250", "--set", "scheduler.warmup_steps=20",
    "--set", f"data.train={shards}/train-*.bin", "--set", f"data.val={shards}/val-*.bin",
]
config = os.path.join(SOURCE_DIR, "configs", "train", "tiny-cpu.yaml")
for name, extra in [("baseline", []), ("g1-elementwise", ["--set", "model.attention_gate.position=sdpa"])]:
    run_dir = os.path.join(work, name)
    run(["train", config, "--run-dir", run_dir] + common + extra)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [l for l in lines if "loss" in l]
    evals = [l for l in lines if "val_loss" in l]
    analysis = [l for l in lines if "first_token_attn" in l]
    final_val = evals[-1]["val_loss"]
    print(f"{name}: first train loss {train[0]['loss']:.3f}, last {train[-1]['loss']:.3f}, val {final_val:.3f}")
    checks.check(train[-1]["loss"] < train[0]["loss"] - 1.0, f"{name}: train loss decreases by > 1 nat")
    checks.check(final_val < unigram_entropy - 0.5, f"{name}: val loss {final_val:.3f} < unigram entropy {unigram_entropy:.3f} - 0.5")
    checks.check(all(k in train[0] for k in ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "time_s")), f"{name}: metrics.jsonl train keys")
    checks.check(len(analysis) == 1 and 0 < analysis[0]["first_token_attn"] <= 1 and analysis[0]["max_act"] > 0, f"{name}: analysis line logged")
    if name == "g1-elementwise":
        checks.check(analysis and 0 < analysis[0]["gate_score"] < 1, f"{name}: gate score in (0,1)")
    checks.check(os.path.exists(os.path.join(run_dir, "config.yaml")), f"{name}: resolved config.yaml written")
    proc = run(["eval", "--checkpoint", run_dir, "--data", f"{shards}/val-*.bin", "--seq-len", "64", "--batch-size", "16", "--batches", "16", "--json"])
    ev = json.loads(proc.stdout)
    checks.check(abs(ev["val_loss"] - final_val) < 1e-5, f"{name}: gatedlm eval reproduces the final val loss ({ev['val_loss']:.6f} vs {final_val:.6f})")
checks.finish()
