"""Resume: N steps + resume + N steps equals 2N steps bit for bit (losses in metrics.jsonl, final
parameters and AdamW moments), sync and async; explicit --resume; a changed model shape is exit 2
naming the first mismatched tensor; a finished run has nothing to do; retention; h5py reads
model.h5 with no gatedlm code; `gatedlm checkpoint inspect/verify`."""
import json
import os
import shutil

import h5py

from checkpoint_util import (GATEDLM, assert_same_tensors, checkpoint_dir, complete_steps,
                             latest_dir, loss_texts, make_shard, run, train, verify, work_dir)

N = 6
CONSTANT_LR = {"scheduler__type": "constant", "scheduler__warmup_steps": 0, "checkpoint__interval": N}


def test_bitwise_resume(tmp, data):
    full = os.path.join(tmp, "full")
    train(full, data, 2 * N, **CONSTANT_LR)
    for mode in ("sync", "async"):
        split = os.path.join(tmp, f"split_{mode}")
        opts = dict(CONSTANT_LR, checkpoint__async=mode == "async")
        train(split, data, N, **opts)
        with open(os.path.join(split, "metrics.jsonl")) as f:
            first_half = f.read()
        out = train(split, data, 2 * N, **opts)
        assert f"resuming from {checkpoint_dir(split, N)} at step {N}" in out.output, out.output
        with open(os.path.join(split, "metrics.jsonl")) as f:
            assert f.read().startswith(first_half), "metrics.jsonl was not appended to"
        assert loss_texts(split) == loss_texts(full), (loss_texts(split), loss_texts(full))
        assert len(loss_texts(full)) == 2 * N
        for group in ("model", "optimizer"):
            assert_same_tensors(checkpoint_dir(full, 2 * N), checkpoint_dir(split, 2 * N), group)
    return full


def test_explicit_resume(tmp, data, full):
    other = os.path.join(tmp, "explicit")
    out = train(other, data, 2 * N, extra=["--resume", checkpoint_dir(full, N)], **CONSTANT_LR)
    assert f"at step {N}" in out.output
    expected = {s: v for s, v in loss_texts(full).items() if s > N}
    assert loss_texts(other) == expected
    assert_same_tensors(checkpoint_dir(full, 2 * N), checkpoint_dir(other, 2 * N))
    bad = train(os.path.join(tmp, "nothing"), data, N, check_rc=2,
                extra=["--resume", os.path.join(tmp, "no_such_checkpoint")])
    assert "no_such_checkpoint" in bad.stderr


def test_shape_change_is_exit_2(tmp, data, full):
    run_dir = os.path.join(tmp, "reshaped")
    shutil.copytree(full, run_dir)
    before = loss_texts(run_dir)
    out = train(run_dir, data, 3 * N, check_rc=2, model__intermediate_size=128, **CONSTANT_LR)
    line = out.stderr.strip().splitlines()[-1]
    assert "model.layers.0.mlp.gate_proj.weight" in line and "shape [192, 64]" in line, line
    assert loss_texts(run_dir) == before, "a refused resume must not touch metrics.jsonl"


def test_finished_run_has_nothing_to_do(tmp, data, full):
    run_dir = os.path.join(tmp, "finished")
    shutil.copytree(full, run_dir)
    out = train(run_dir, data, 2 * N, **CONSTANT_LR)
    assert "nothing to do" in out.output
    assert loss_texts(run_dir) == loss_texts(full)


def test_retention(tmp, data):
    run_dir = os.path.join(tmp, "retention")
    train(run_dir, data, 12, checkpoint__interval=2, checkpoint__keep_last=2,
          checkpoint__keep_every=4)
    assert complete_steps(run_dir) == [4, 8, 10, 12], complete_steps(run_dir)
    assert os.path.basename(latest_dir(run_dir)) == "step_00000012"
    leftovers = [n for n in os.listdir(os.path.join(run_dir, "checkpoints")) if n.startswith(".")]
    assert leftovers == [], leftovers


def test_h5py_reads_the_checkpoint(full):
    ckpt = checkpoint_dir(full, 2 * N)
    with h5py.File(os.path.join(ckpt, "model.h5"), "r") as f:
        names = sorted(f["model"].keys())
        assert "model.embed_tokens.weight" in names and "model.norm.weight" in names
        assert "model.layers.1.self_attn.q_proj.weight" in names
        for name in names:
            ds = f["model"][name]
            assert ds.dtype == "float32" and ds.attrs["xxh3_64"], name
        assert f["model/model.embed_tokens.weight"].shape == (256, 64)
        assert sorted(f["optimizer/exp_avg"].keys()) == names
        assert sorted(f["optimizer/exp_avg_sq"].keys()) == names
        assert int(f["optimizer/step"][()]) == 2 * N
        assert int(f["train/step"][()]) == 2 * N
        assert int(f["train/tokens_seen"][()]) == 2 * N * 2 * 16
        assert f["data/train/rng"].shape == (4,)
        assert b"hidden_size: 64" in f["config_yaml"][()]
        attrs = f.attrs
        assert attrs["format"] == b"gatedlm-checkpoint" or attrs["format"] == "gatedlm-checkpoint"
        for key in ("gatedlm_version", "git_commit", "created_utc", "world_size", "tensor_parallel",
                    "data_parallel", "tokens_seen", "elapsed_s", "step"):
            assert key in attrs, key
        assert int(attrs["step"]) == 2 * N


def test_tools(full):
    out = verify(full)
    assert out.stdout.startswith("ok: ") and "datasets match" in out.stdout, out.stdout
    text = run([GATEDLM, "checkpoint", "inspect", checkpoint_dir(full, N)]).stdout
    assert "model.layers.0.self_attn.q_proj.weight" in text and "[64, 64]" in text, text
    assert "step             6" in text and "train/step" in text, text
    info = json.loads(run([GATEDLM, "checkpoint", "inspect", "--json", full]).stdout)
    assert info["complete"] and info["metadata"]["step"] == str(2 * N)
    shapes = {d["name"]: d["shape"] for d in info["datasets"]}
    assert shapes["model/model.layers.0.mlp.down_proj.weight"] == [64, 192]


def main():
    tmp = work_dir("resume")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        full = test_bitwise_resume(tmp, data)
        test_explicit_resume(tmp, data, full)
        test_shape_change_is_exit_2(tmp, data, full)
        test_finished_run_has_nothing_to_do(tmp, data, full)
        test_retention(tmp, data)
        test_h5py_reads_the_checkpoint(full)
        test_tools(full)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
