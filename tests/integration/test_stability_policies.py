"""stability.on_spike: none, skip and rollback, on the tiny model with a low z-score threshold so
that spikes occur. none logs the spike and applies the update; skip drops the update; rollback
reloads the last checkpoint, replays the steps after it exactly and takes the batch after the
offending one. Each run logs one train line per applied step."""
import os
import shutil

from sweep_util import events, make_shard, train, train_losses, work_dir

STEPS = 40
POLICY = {"stability__spike_zscore": 2.0, "stability__spike_window": 4,
          "checkpoint__interval": 5, "checkpoint__keep_last": 1}


def run(tmp, data, policy):
    run_dir = os.path.join(tmp, policy)
    train(run_dir, data, STEPS, stability__on_spike=policy, **POLICY)
    assert os.path.exists(os.path.join(run_dir, "done.json")), policy
    return run_dir


def main():
    tmp = work_dir("stability")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        none, skip, rollback = (run(tmp, data, p) for p in ("none", "skip", "rollback"))

        # none: spikes are logged, every update is applied.
        spikes = events(none, "spike")
        assert spikes and all(e["action"] == "none" and e["zscore"] > 2.0 for e in spikes), spikes
        assert sorted(train_losses(none)) == list(range(1, STEPS + 1))
        first = spikes[0]["step"]
        reference = train_losses(none)

        # skip: the spike steps have no update; up to the first spike it is the same run.
        skipped = [e["step"] for e in events(skip, "spike")]
        assert skipped[0] == first and all(e["action"] == "skip" for e in events(skip, "spike"))
        losses = train_losses(skip)
        assert set(losses).isdisjoint(skipped), (sorted(losses), skipped)
        assert sorted(set(losses) | set(skipped)) == list(range(1, STEPS + 1))
        assert all(losses[s] == reference[s] for s in range(1, first))

        # rollback: back to the last checkpoint, the steps after it replayed exactly, the
        # offending batch skipped, one train line per step in the end.
        backs = events(rollback, "rollback")
        assert backs and backs[0]["step"] == first, backs
        assert backs[0]["to_step"] == (first - 1) // 5 * 5, backs[0]
        losses = train_losses(rollback)
        assert sorted(losses) == list(range(1, STEPS + 1))
        with open(os.path.join(rollback, "metrics.jsonl")) as f:
            train_lines = [line for line in f if '"loss"' in line and '"event"' not in line]
        assert len(train_lines) == STEPS, "replayed steps must replace their first lines"
        assert all(losses[s] == reference[s] for s in range(1, first)), "the replay differs"
        spike_loss = events(rollback, "spike")[0]["event_loss"]
        assert losses[first] != spike_loss, "the offending batch was used again"
        print(f"stability policies: first spike at step {first}; none {len(spikes)} spikes, "
              f"skip {len(skipped)} skipped, rollback {len(backs)} rollbacks")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
