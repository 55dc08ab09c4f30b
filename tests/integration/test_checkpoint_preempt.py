"""Preemption: SIGTERM, SIGINT and SIGUSR1 finish the current step, write a checkpoint, log it
and exit 0; rerunning the same command resumes, and the run's losses and final parameters equal
an uninterrupted run's bit for bit (cosine schedule). SIGTERM in the middle of a save lets it
finish. A second SIGINT aborts at once."""
import os
import shutil
import signal
import subprocess
import time

from checkpoint_util import (ENV, assert_same_tensors, checkpoint_dir, latest_dir, loss_texts,
                             make_shard, train, train_args, verify, work_dir)

STEPS = 40


def start(run_dir, data, steps=STEPS, **overrides):
    args = train_args(data, steps, **overrides) + ["--run-dir", run_dir]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for_steps(run_dir, proc, count, timeout=60):
    """Blocks until metrics.jsonl shows `count` train lines."""
    metrics = os.path.join(run_dir, "metrics.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "training ended before the signal:\n" + proc.stdout.read()
        if os.path.exists(metrics) and len(loss_texts(run_dir)) >= count:
            return
        time.sleep(0.01)
    raise AssertionError("training made no progress")


def interrupt(run_dir, data, sig):
    proc = start(run_dir, data)
    wait_for_steps(run_dir, proc, 5)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{sig!r}: exit {proc.returncode}\n{output}"
    stopped = max(loss_texts(run_dir))
    assert stopped < STEPS, "the run finished before the signal took effect"
    assert f"{signal.Signals(sig).name} received: stopped after step {stopped}" in output, output
    assert os.path.basename(latest_dir(run_dir)) == f"step_{stopped:08d}"
    verify(run_dir)
    return stopped


def main():
    tmp = work_dir("preempt")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        full = os.path.join(tmp, "full")
        train(full, data, STEPS)

        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            run_dir = os.path.join(tmp, signal.Signals(sig).name)
            stopped = interrupt(run_dir, data, sig)
            out = train(run_dir, data, STEPS)  # the same command again resumes
            assert f"at step {stopped}" in out.output, out.output
            assert loss_texts(run_dir) == loss_texts(full), signal.Signals(sig).name
            assert_same_tensors(checkpoint_dir(full, STEPS), checkpoint_dir(run_dir, STEPS))
            assert_same_tensors(checkpoint_dir(full, STEPS), checkpoint_dir(run_dir, STEPS),
                                "optimizer")

        # Async saves stop the same way: the checkpoint is complete before the process exits.
        run_dir = os.path.join(tmp, "async")
        proc = start(run_dir, data, checkpoint__async=True, checkpoint__interval=3)
        wait_for_steps(run_dir, proc, 5)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output
        stopped = max(loss_texts(run_dir))
        assert os.path.basename(latest_dir(run_dir)) == f"step_{stopped:08d}", output
        verify(run_dir)

        # SIGTERM while a save is being written (a checkpoint every step of a model with a large
        # vocabulary, so saves take most of the time; the signal goes the moment a save's
        # hidden directory appears): that save completes, the stop checkpoint follows, and
        # nothing half-written is left.
        run_dir = os.path.join(tmp, "during_save")
        proc = start(run_dir, data, steps=100000, checkpoint__interval=1, checkpoint__keep_last=2,
                     train__log_interval=50, model__vocab_size=16384)
        root = os.path.join(run_dir, "checkpoints")
        deadline = time.time() + 120
        while not (os.path.isdir(root) and any(n.startswith(".") and n != ".latest.tmp"
                                               for n in os.listdir(root))):
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
            time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{output}"
        assert "SIGTERM received: stopped after step" in output, output
        latest = latest_dir(run_dir)
        assert output.split("SIGTERM received: stopped after step ")[1].split()[0] == \
            str(int(os.path.basename(latest)[5:])), output
        verify(run_dir)
        assert not [n for n in os.listdir(root) if n.startswith(".")], os.listdir(root)

        # A second SIGINT aborts without waiting for the step to end (long steps here, so that
        # the second signal lands within the step the first one let finish).
        run_dir = os.path.join(tmp, "abort")
        proc = start(run_dir, data, steps=100000, train__seq_len=256, train__micro_batch_size=16)
        wait_for_steps(run_dir, proc, 1)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGINT, f"exit {proc.returncode}\n{output}"
        assert "second interrupt" in output, output
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
