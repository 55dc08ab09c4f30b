#!/usr/bin/python3
"""`gatedlm eval --per-position-buckets K` and eval's RoPE `--set` (docs/rope-scaling.md).

Trains a tiny model for a few steps on a synthetic shard, then checks: the buckets tile
[0, T) as [k*T/K, (k+1)*T/K) (also when K does not divide T, and K capped at T); their
token-weighted mean equals val_loss; the text output prints the table; eval beyond the training
length works; YaRN with factor 1 equals plain RoPE and YaRN with factor 4 does not; a non-RoPE
--set is exit 2.
"""
import json
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, SOURCE_DIR, run, temp_dir, write_shard  # noqa: E402

YARN4 = "model.rope_scaling={type: yarn, factor: 4, original_max_position_embeddings: 16}"
YARN1 = "model.rope_scaling={type: yarn, factor: 1, original_max_position_embeddings: 16}"


def eval_json(ckpt, shard, seq_len, buckets, batches=2, extra=()):
    args = ["eval", "--checkpoint", ckpt, "--data", shard, "--seq-len", str(seq_len),
            "--batch-size", "2", "--batches", str(batches), "--json"]
    if buckets:
        args += ["--per-position-buckets", str(buckets)]
    return json.loads(run(args + list(extra)).stdout)


def main():
    c = Checks()
    work = temp_dir("eval-buckets")
    rng = random.Random(5)
    # A learnable stream: a repeating phrase with some noise.
    phrase = [rng.randrange(256) for _ in range(37)]
    tokens = [t if rng.random() > 0.1 else rng.randrange(256) for t in phrase * 300]
    shard = os.path.join(work, "tokens.bin")
    write_shard(shard, tokens)
    run_dir = os.path.join(work, "run")
    run(["train", os.path.join(SOURCE_DIR, "configs/models/dense-tiny.yaml"),
         "--set", "train.steps=20", "--set", "train.seq_len=16",
         "--set", "train.micro_batch_size=4", "--set", "train.eval_interval=0",
         "--set", f"data.train={shard}", "--set", f"data.val={shard}",
         "--set", "checkpoint.interval=20", "--run-dir", run_dir])

    for seq_len, k in ((16, 4), (64, 4), (30, 4), (64, 64), (8, 20)):
        r = eval_json(run_dir, shard, seq_len, k)
        buckets = r.get("position_buckets", [])
        kk = min(k, seq_len)
        want = [(i * seq_len // kk, (i + 1) * seq_len // kk) for i in range(kk)]
        got = [(b["start"], b["end"]) for b in buckets]
        c.check(got == want, f"T={seq_len} K={k}: bucket bounds {got[:3]}... == {want[:3]}...")
        c.check(r.get("seq_len") == seq_len, f"T={seq_len} K={k}: seq_len reported")
        mean = sum(b["loss"] * (b["end"] - b["start"]) for b in buckets) / seq_len
        c.check(abs(mean - r["val_loss"]) < 1e-5 * max(1.0, r["val_loss"]),
                f"T={seq_len} K={k}: weighted bucket mean {mean:.6f} == val_loss {r['val_loss']:.6f}")

    plain = eval_json(run_dir, shard, 64, 0)
    c.check("position_buckets" not in plain, "no buckets without --per-position-buckets")
    text = run(["eval", "--checkpoint", run_dir, "--data", shard, "--seq-len", "32",
                "--batch-size", "2", "--batches", "2", "--per-position-buckets", "2"]).stdout
    lines = text.strip().splitlines()
    c.check(len(lines) == 4 and lines[1].split() == ["start", "end", "loss"]
            and lines[2].split()[:2] == ["0", "16"] and lines[3].split()[:2] == ["16", "32"],
            f"text output has the bucket table: {lines}")

    yarn1 = eval_json(run_dir, shard, 64, 4, extra=["--set", YARN1])
    # Equal up to rounding: the ramp mixes x*g + x*(1-g), which need not round to x exactly.
    c.check(abs(yarn1["val_loss"] - plain["val_loss"]) < 1e-6,
            f"yarn factor 1 == plain RoPE ({yarn1['val_loss']} vs {plain['val_loss']})")
    yarn4 = eval_json(run_dir, shard, 64, 4, extra=["--set", YARN4])
    c.check(abs(yarn4["val_loss"] - plain["val_loss"]) > 1e-6,
            f"yarn factor 4 changes the loss ({yarn4['val_loss']:.6f} vs {plain['val_loss']:.6f})")
    theta = eval_json(run_dir, shard, 64, 0, extra=["--set", "model.rope_theta=500000"])
    c.check(abs(theta["val_loss"] - plain["val_loss"]) > 1e-6, "--set model.rope_theta applies")

    bad = run(["eval", "--checkpoint", run_dir, "--data", shard, "--seq-len", "16",
               "--set", "model.hidden_size=32"], check=False)
    c.check(bad.returncode == 2 and "rope" in bad.stderr,
            f"non-RoPE --set is exit 2 ({bad.returncode}: {bad.stderr.strip()[:120]})")
    zero = run(["eval", "--checkpoint", run_dir, "--data", shard, "--per-position-buckets", "0"],
               check=False)
    c.check(zero.returncode == 2, f"--per-position-buckets 0 is exit 2 ({zero.returncode})")
    c.finish()


if __name__ == "__main__":
    main()
