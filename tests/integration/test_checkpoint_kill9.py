"""kill -9 at random moments during saves, again and again: after every kill, `latest` names a
complete checkpoint that loads and passes all its checksums, and training resumes from it.

A checkpoint every step (with retention deleting old ones) keeps the process saving most of the
time, so the kills land in every phase: HDF5 writes, fsyncs, renames, the marker, `latest`,
retention. Every third round saves asynchronously."""
import os
import random
import shutil
import signal
import subprocess
import time

from checkpoint_util import (ENV, complete_steps, latest_dir, loss_texts, make_shard, train,
                             train_args, verify, work_dir)

ROUNDS = 50  # docs/reliability.md: kill -9 at random points during saves, 50 times
# A large vocabulary (a 12 MB checkpoint for little compute per step), so saves take most of the
# time.
BIGGER = {"model__vocab_size": 16384}


def main():
    tmp = work_dir("kill9")
    rng = random.Random(20240520)
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        run_dir = os.path.join(tmp, "run")
        latest_steps = []
        mid_save = 0  # kills that left a save half done (a hidden or an unmarked directory)
        for round_ in range(ROUNDS):
            args = train_args(data, 100000, checkpoint__interval=1, checkpoint__keep_last=2,
                              checkpoint__keep_every=25, checkpoint__async=round_ % 3 == 2,
                              train__log_interval=10, **BIGGER) + ["--run-dir", run_dir]
            root = os.path.join(run_dir, "checkpoints")
            before = set(os.listdir(root)) if os.path.isdir(root) else set()
            proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            # Start-up time varies with the machine's load: wait for this process's first save
            # to begin (a new name in checkpoints/), then kill at a random moment after it.
            deadline = time.time() + 120
            while not (set(os.listdir(root)) if os.path.isdir(root) else set()) - before - {
                    "latest", ".latest.tmp"}:
                assert proc.poll() is None and time.time() < deadline, proc.communicate()[1]
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, f"round {round_}: {proc.returncode}\n{err}"
            if any(
                    n.startswith(".") and n != ".latest.tmp" or
                    n.startswith("step_") and not os.path.exists(os.path.join(root, n, "COMPLETE"))
                    for n in os.listdir(root)):
                mid_save += 1
            if not os.path.exists(os.path.join(root, "latest")):
                assert not latest_steps, "`latest` disappeared"
                continue  # killed inside the very first save: nothing to resume yet
            latest = latest_dir(run_dir)
            assert os.path.exists(os.path.join(latest, "COMPLETE")), latest
            verify(run_dir)
            latest_steps.append(int(os.path.basename(latest)[5:]))
            # Every complete checkpoint, not only `latest`, passes.
            for step in complete_steps(run_dir):
                verify(os.path.join(run_dir, "checkpoints", f"step_{step:08d}"))
        assert len(latest_steps) >= ROUNDS // 2, latest_steps
        assert latest_steps == sorted(latest_steps) and latest_steps[-1] > latest_steps[0], \
            latest_steps
        # The survivor resumes cleanly and finishes.
        final = latest_steps[-1] + 2
        out = train(run_dir, data, final, checkpoint__interval=1, checkpoint__keep_last=2,
                    checkpoint__keep_every=25, train__log_interval=10, **BIGGER)
        assert f"at step {latest_steps[-1]}" in out.output, out.output
        verify(run_dir)
        # One metrics line per step: lines of steps lost to a kill were dropped on resume.
        logged = sorted(loss_texts(run_dir))
        assert logged == sorted(set(range(10, final + 1, 10)) | {final}), logged
        milestones = [s for s in complete_steps(run_dir) if s % 25 == 0]
        assert milestones == list(range(25, final + 1, 25)), (milestones, complete_steps(run_dir))
        print(f"{ROUNDS} kills, {mid_save} mid-save; latest went {latest_steps[0]} -> "
              f"{latest_steps[-1]}")
        assert mid_save >= ROUNDS // 8, "too few kills landed inside a save"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
