"""stability.on_nonfinite end to end, with non-finite values injected through the
GATEDLM_FAULT_NAN_GRAD_STEPS / GATEDLM_FAULT_NAN_LOSS_STEPS hooks (docs/reliability.md):
skip drops exactly the poisoned updates and training finishes; stop (the default) is exit 1 with
one line and leaves the earlier checkpoint as `latest`; rollback returns to the last checkpoint,
replays the steps after it with the poisoned batch skipped, and stops (exit 1) once
stability.max_rollbacks_per_step is used up."""
import json
import os
import shutil

import h5py
import numpy as np

from checkpoint_util import (ENV, latest_dir, loss_texts, make_shard, run, train_args, verify,
                             work_dir)


def train_with_faults(run_dir, data, steps, faults, check_rc, **overrides):
    args = train_args(data, steps, **overrides) + ["--run-dir", run_dir]
    return run(args, check_rc, env=dict(ENV, **faults))


def test_skip(tmp, data):
    run_dir = os.path.join(tmp, "skip")
    out = train_with_faults(run_dir, data, 8, {"GATEDLM_FAULT_NAN_GRAD_STEPS": "3",
                                                "GATEDLM_FAULT_NAN_LOSS_STEPS": "6"}, 0,
                            stability__on_nonfinite="skip", checkpoint__interval=4)
    assert "fault injection is on" in out.output, out.output
    for step in (3, 6):
        assert f"step {step}: nonfinite (loss " in out.output, out.output
        assert f"step {step}: update skipped" in out.output, out.output
    events = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))
              if '"event"' in line]
    assert [(e["step"], e["event"], e["action"]) for e in events] == \
        [(3, "nonfinite", "skip"), (6, "nonfinite", "skip")], events
    assert sorted(loss_texts(run_dir)) == [1, 2, 4, 5, 7, 8], sorted(loss_texts(run_dir))
    verify(run_dir)
    with h5py.File(os.path.join(latest_dir(run_dir), "model.h5"), "r") as f:
        assert f["optimizer/step"][()] == 6, f["optimizer/step"][()]  # 8 steps, 2 skipped
        assert f["train/step"][()] == 8
        for name, tensor in f["model"].items():
            assert np.isfinite(tensor[()]).all(), name


def test_stop(tmp, data, policy_overrides, name):
    run_dir = os.path.join(tmp, name)
    out = train_with_faults(run_dir, data, 8, {"GATEDLM_FAULT_NAN_GRAD_STEPS": "5"}, 1,
                            checkpoint__interval=2, **policy_overrides)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: step 5: non-finite") and \
        "stability.on_nonfinite stops" in lines[0], lines
    assert os.path.basename(latest_dir(run_dir)) == "step_00000004"
    verify(run_dir)
    assert sorted(loss_texts(run_dir)) == [1, 2, 3, 4]


def events_of(run_dir):
    return [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))
            if '"event"' in line]


def test_rollback(tmp, data):
    clean_dir = os.path.join(tmp, "clean")
    train_with_faults(clean_dir, data, 8, {}, 0, checkpoint__interval=4)
    run_dir = os.path.join(tmp, "rollback")
    out = train_with_faults(run_dir, data, 8, {"GATEDLM_FAULT_NAN_GRAD_STEPS": "6"}, 0,
                            stability__on_nonfinite="rollback", checkpoint__interval=4)
    assert "step 6: rolled back to" in out.output, out.output
    assert [(e["step"], e["event"]) for e in events_of(run_dir)] == \
        [(6, "nonfinite"), (6, "rollback")], events_of(run_dir)
    assert events_of(run_dir)[1]["to_step"] == 4
    losses, clean = loss_texts(run_dir), loss_texts(clean_dir)
    # One line per step (the rolled-back step 5 line was rewound); steps up to the checkpoint and
    # the replayed step 5 saw the same batches as the clean run, step 6 onwards the next ones.
    assert sorted(losses) == list(range(1, 9)), sorted(losses)
    assert all(losses[s] == clean[s] for s in range(1, 6)), (losses, clean)
    assert losses[6] != clean[6], (losses[6], clean[6])
    verify(run_dir)
    with h5py.File(os.path.join(latest_dir(run_dir), "model.h5"), "r") as f:
        assert f["optimizer/step"][()] == 8 and f["train/step"][()] == 8
        for name, tensor in f["model"].items():
            assert np.isfinite(tensor[()]).all(), name


def test_rollback_limit(tmp, data):
    # A fault that every replay meets again: step 6 is poisoned three times, two rollbacks are
    # allowed, the third one stops the run.
    run_dir = os.path.join(tmp, "rollback_limit")
    out = train_with_faults(run_dir, data, 8, {"GATEDLM_FAULT_NAN_GRAD_STEPS": "6,6,6"}, 1,
                            stability__on_nonfinite="rollback", stability__max_rollbacks_per_step=2,
                            checkpoint__interval=4)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: step 6: non-finite") and \
        "stability.max_rollbacks_per_step (2) reached" in lines[0], lines
    actions = [(e["event"], e.get("action")) for e in events_of(run_dir)]
    assert actions == [("nonfinite", "rollback"), ("rollback", None)] * 2 + \
        [("nonfinite", "stop")], actions
    assert os.path.basename(latest_dir(run_dir)) == "step_00000004"
    verify(run_dir)


def test_bad_hook_value(tmp, data):
    out = train_with_faults(os.path.join(tmp, "bad"), data, 2,
                            {"GATEDLM_FAULT_NAN_GRAD_STEPS": "3,x"}, 2)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "GATEDLM_FAULT_NAN_GRAD_STEPS=3,x" in lines[0], lines


def main():
    tmp = work_dir("nonfinite")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        test_skip(tmp, data)
        test_stop(tmp, data, {"stability__on_nonfinite": "stop"}, "stop")
        test_stop(tmp, data, {}, "default")
        test_rollback(tmp, data)
        test_rollback_limit(tmp, data)
        test_bad_hook_value(tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
