"""gatedlm sweep with the local executor: --dry-run, overrides checked before anything starts
(exit 2 at the spec's line), every run in its own directory with its resolved config, --status,
idempotence (a second run redoes nothing), preemption (SIGTERM stops every run with a checkpoint,
the same command resumes them) and gatedlm report (tables and PNGs)."""
import os
import shutil
import signal
import subprocess
import time

from sweep_util import ENV, GATEDLM, gatedlm, make_shard, train_losses, work_dir, write_spec

GRID = ("variants:\n  base: {}\n  g1: {model.attention_gate.position: sdpa}\n"
        "grid:\n  optimizer.lr: [1.0e-3, 3.0e-3]\n")
STEPS = 150  # of the preempted sweep
RUNS = ["base_lr-1.0e-3", "base_lr-3.0e-3", "g1_lr-1.0e-3", "g1_lr-3.0e-3"]


def main():
    tmp = work_dir("sweep_local")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        spec = write_spec(os.path.join(tmp, "spec.yaml"), data, GRID + f"out_dir: {tmp}/out\n")
        out = os.path.join(tmp, "out")

        # --dry-run: one line per run with its overrides; nothing is created.
        dry = gatedlm("sweep", spec, "--dry-run").stdout.splitlines()
        assert [line.split()[0] for line in dry[:4]] == RUNS, dry
        assert "model.attention_gate.position=sdpa" in dry[3] and "optimizer.lr=3.0e-3" in dry[3]
        assert not os.path.exists(out)

        # A bad override fails before anything starts, at the spec's line.
        bad = write_spec(os.path.join(tmp, "bad.yaml"), data,
                         "variants:\n  ok: {}\n  typo: {model.hiden_size: 3}\n")
        proc = gatedlm("sweep", bad, check=False)
        assert proc.returncode == 2, proc
        assert proc.stderr.startswith(f"{bad}:4:10: unknown key"), proc.stderr
        assert "hidden_size" in proc.stderr, proc.stderr  # the did-you-mean
        assert not os.path.exists(os.path.join(tmp, "runs")), "a failing spec started something"

        # Run all four, two at a time.
        gatedlm("sweep", spec, "--max-parallel", "2", "--threads", "2")
        for name in RUNS:
            run = os.path.join(out, name)
            assert os.path.exists(os.path.join(run, "done.json")), name
            assert sorted(train_losses(run)) == list(range(1, 13)), name
        with open(os.path.join(out, "g1_lr-3.0e-3", "config.yaml")) as f:
            config = f.read()
        assert "lr: 0.003" in config and "position: sdpa" in config, config
        status = gatedlm("sweep", spec, "--status").stdout
        assert "4 runs: 4 done, 0 running, 0 failed, 0 pending" in status, status

        # Idempotent: nothing runs again.
        stamps = {n: os.path.getmtime(os.path.join(out, n, "done.json")) for n in RUNS}
        logs = {n: os.path.getsize(os.path.join(out, n, "train.log")) for n in RUNS}
        again = gatedlm("sweep", spec, "--max-parallel", "2")
        assert "4 already done, 0 to run" in again.stdout + again.stderr, again
        assert stamps == {n: os.path.getmtime(os.path.join(out, n, "done.json")) for n in RUNS}
        assert logs == {n: os.path.getsize(os.path.join(out, n, "train.log")) for n in RUNS}

        # Preemption: SIGTERM to the sweep stops both running runs after a checkpoint; the same
        # command resumes them from it, and each step is logged once.
        long_spec = write_spec(os.path.join(tmp, "long.yaml"), data,
                               f"grid: {{optimizer.lr: [1.0e-3, 3.0e-3]}}\nout_dir: {tmp}/long\n",
                               steps=STEPS, interval=0)
        sweep = subprocess.Popen([GATEDLM, "sweep", long_spec, "--max-parallel", "2", "--threads",
                                  "2"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        first = os.path.join(tmp, "long", "lr-1.0e-3")
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(os.path.join(first, "checkpoints",
                                                                          "latest")):
            time.sleep(0.05)
        sweep.send_signal(signal.SIGTERM)
        output, _ = sweep.communicate(timeout=120)
        assert sweep.returncode == 0, output
        assert "stopped with a checkpoint" in output, output
        status = gatedlm("sweep", long_spec, "--status").stdout
        assert "resumes at step" in status and "0 done" in status, status
        stopped = max(train_losses(first))
        assert 0 < stopped < STEPS, stopped
        gatedlm("sweep", long_spec, "--max-parallel", "2", "--threads", "2", timeout=600)
        with open(os.path.join(first, "train.log")) as f:
            assert f"at step {stopped}" in f.read()
        assert sorted(train_losses(first)) == list(range(1, STEPS + 1))
        assert "2 runs: 2 done" in gatedlm("sweep", long_spec, "--status").stdout

        # Report: a row per run, CSV, PNGs.
        report = gatedlm("report", out)
        for name in RUNS:
            assert f"| {name} |" in report.stdout, report.stdout
        with open(os.path.join(out, "report.csv")) as f:
            rows = f.read().splitlines()
        assert len(rows) == 5 and rows[0].startswith("run,variant,lr"), rows
        for png in ("loss_curves.png", "lr_vs_loss.png", "layers.png"):
            with open(os.path.join(out, "plots", png), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", png
        print("sweep local: all checks passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
