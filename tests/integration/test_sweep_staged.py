"""The length-extrapolation sweep (configs/sweeps/length-extrapolation.yaml) at tiny scale, as
one staged `gatedlm sweep`: its stages, lengths, theta and evaluation settings as shipped; the
model, step counts and evaluation tokens shrunk, on a generated shard. Checks: bad staged specs
are exit 2 at their line; the long stage resumes from the short stage's checkpoint with the new
rope_theta and seq_len (logged); every evaluation (1x..8x, plain and YaRN) writes finite
per-bucket losses; a rerun does nothing, a lost evaluation alone is redone; gatedlm report writes
the loss-by-length table, positions.csv and the loss-vs-position plot."""
import json
import math
import os
import shutil

import yaml

from sweep_util import SOURCE_DIR, gatedlm, make_shard, train_losses, work_dir

SPEC = os.path.join(SOURCE_DIR, "configs", "sweeps", "length-extrapolation.yaml")
SHORT_STEPS, LONG_STEPS = 6, 10
VARIANTS = ("baseline", "g1")


def tiny_spec(tmp, data):
    """The shipped spec, shrunk; returns (spec path, out dir, the long stage's settings)."""
    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    out = os.path.join(tmp, "out")
    spec["base"] = os.path.join(os.path.dirname(SPEC), spec["base"])
    spec["out_dir"] = out
    spec["model"].update(hidden_size=32, num_hidden_layers=1, head_dim=8, intermediate_size=64)
    spec["train"].update(micro_batch_size=2, log_interval=1)
    spec["checkpoint"] = {"interval": 4, "keep_last": 1}
    spec["data"] = {"train": data, "val": data}
    spec["stages"]["short"]["set"]["train.steps"] = SHORT_STEPS
    spec["stages"]["long"]["set"]["train.steps"] = LONG_STEPS
    spec["stages"]["long"]["evaluate"]["tokens"] = 1024
    path = os.path.join(tmp, "length-extrapolation.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path, out, spec["stages"]


def check_bad_specs(tmp, data):
    """Unknown stage, a cycle, a non-RoPE eval key: exit 2 at the line, nothing started."""
    head = (f"base: {os.path.join(SOURCE_DIR, 'configs', 'models', 'dense-tiny.yaml')}\n"
            f"out_dir: {tmp}/bad-out\ndata: {{train: {data}}}\n")
    cases = {
        "stages:\n  a: {}\n  b: {resume_from: c}\n":
            (6, "stages.b.resume_from: no stage 'c' (stages: a, b)"),
        "stages:\n  a: {resume_from: b}\n  b: {resume_from: a}\n":
            (5, "the stages form a cycle (a -> b -> a)"),
        "stages:\n  a:\n    evaluate: {seq_len: [32], settings: {x: {train.seq_len: 8}}}\n":
            (6, "'train.seq_len' cannot change at evaluation"),
    }
    for i, (body, (line, message)) in enumerate(cases.items()):
        path = os.path.join(tmp, f"bad{i}.yaml")
        with open(path, "w") as f:
            f.write(head + body)
        proc = gatedlm("sweep", path, check=False)
        assert proc.returncode == 2, (body, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"{path}:{line}:") and message in proc.stderr, proc.stderr
    assert not os.path.exists(os.path.join(tmp, "bad-out"))


def eval_files(stages):
    evaluate = stages["long"]["evaluate"]
    long_len = stages["long"]["set"]["train.seq_len"]
    return [(setting, m * long_len) for setting in evaluate["settings"]
            for m in evaluate["seq_len_multiples"]]


def main():
    tmp = work_dir("sweep_staged")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        check_bad_specs(tmp, data)
        spec, out, stages = tiny_spec(tmp, data)
        short_len = stages["short"]["set"]["train.seq_len"]
        long_len = stages["long"]["set"]["train.seq_len"]
        short_theta = stages["short"]["set"]["model.rope_theta"]
        long_theta = stages["long"]["set"]["model.rope_theta"]
        evals = eval_files(stages)
        assert len(evals) == 8 and max(n for _, n in evals) == 8 * long_len, evals

        dry = gatedlm("sweep", spec, "--dry-run").stdout
        assert "baseline_long  " in dry and "resumes from baseline_short" in dry, dry
        assert "then evals/yarn-512.json: gatedlm eval" in dry, dry
        assert "model.rope_scaling.factor=8" in dry, dry
        status = gatedlm("sweep", spec, "--status").stdout.splitlines()
        assert [line.split()[:4] for line in status if line.startswith("g1_long")] == \
            [["g1_long", "pending", "after", "g1_short,"]], status

        gatedlm("sweep", spec, "--max-parallel", "2", "--threads", "2")
        for v in VARIANTS:
            long_dir = os.path.join(out, f"{v}_long")
            with open(os.path.join(long_dir, "train.log")) as f:
                log = f.read()
            resumed = f"resuming from {out}/{v}_short/checkpoints/step_{SHORT_STEPS:08d}"
            assert resumed in log, log
            assert f"resuming with model.rope_theta {short_theta} -> {long_theta}" in log, log
            assert f"resuming with train.seq_len {short_len} -> {long_len}" in log, log
            with open(os.path.join(long_dir, "config.yaml")) as f:
                config = yaml.safe_load(f)
            assert config["model"]["rope_theta"] == long_theta, config["model"]
            assert config["train"]["seq_len"] == long_len, config["train"]
            assert sorted(train_losses(long_dir)) == list(range(SHORT_STEPS + 1, LONG_STEPS + 1))
            results = {}
            for setting, length in evals:
                with open(os.path.join(long_dir, "evals", f"{setting}-{length}.json")) as f:
                    r = json.load(f)
                results[setting, length] = r
                buckets = r["position_buckets"]
                assert r["seq_len"] == length and len(buckets) == length // 32, r
                assert all(math.isfinite(b["loss"]) for b in buckets), r
                assert buckets[-1]["end"] == length and math.isfinite(r["val_loss"]), r
            # YaRN with factor 1 is plain RoPE; at 8x it changes the losses.
            assert abs(results["yarn", long_len]["val_loss"] -
                       results["plain", long_len]["val_loss"]) < 1e-6
            assert abs(results["yarn", 8 * long_len]["val_loss"] -
                       results["plain", 8 * long_len]["val_loss"]) > 1e-6
        status = gatedlm("sweep", spec, "--status").stdout
        assert "4 runs: 4 done" in status and "16 evaluations: 16 written" in status, status

        # Idempotent; a lost evaluation is the only thing a rerun redoes.
        lost = os.path.join(out, "g1_long", "evals", "yarn-512.json")
        kept = os.path.join(out, "g1_long", "evals", "plain-512.json")
        stamp = os.path.getmtime(kept)
        again = gatedlm("sweep", spec)
        log = again.stdout + again.stderr
        assert "4 already done, 0 to run; 16 evaluations, 0 to run" in log, log
        os.remove(lost)
        again = gatedlm("sweep", spec)
        log = again.stdout + again.stderr
        assert "16 evaluations, 1 to run" in log, log
        assert os.path.exists(lost) and os.path.getmtime(kept) == stamp

        report = gatedlm("report", out).stdout
        assert "## Loss by evaluation length" in report, report
        for v in VARIANTS:
            for setting in ("plain", "yarn"):
                assert f"| {v}_long | {v} | {setting} | {long_len} |" in report, report
        with open(os.path.join(out, "positions.csv")) as f:
            rows = f.read().splitlines()
        per_run = sum(length // 32 for _, length in evals)
        assert rows[0].startswith("run,variant,stage,setting,") and len(rows) == 1 + 2 * per_run
        with open(os.path.join(out, "plots", "loss_vs_position.png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        print("sweep staged: all checks passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
