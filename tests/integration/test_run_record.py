"""A run directory says what happened (docs/outputs.md):
- a rerun with nothing to do, even with a changed --set, leaves every file byte for byte;
- each checkpoint keeps the config that trained it; a resume with changed keys logs them and
  writes a config_changed event at the resumed step;
- train lines hold `loss` (the step's) and `loss_avg` over `loss_avg_steps`, the console shows
  both by name, and after a resume the average covers only the new session's steps;
- MFU is taken against a stated peak and stays <= 1 while the machine is busy, with the GEMM
  efficiency reported beside it; train.peak_tflops overrides the peak."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from checkpoint_util import ENV, checkpoint_dir, make_shard, run, train, train_args, work_dir

N = 6


def snapshot(run_dir):
    """relative path -> sha256 of every file under the run directory."""
    out = {}
    for root, _, files in os.walk(run_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, run_dir)] = hashlib.sha256(f.read()).hexdigest()
    return out


def lines(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_noop_rerun(tmp, data):
    run_dir = os.path.join(tmp, "noop")
    train(run_dir, data, N, checkpoint__interval=3, optimizer__lr=3e-3)
    before = snapshot(run_dir)
    assert "config.yaml" in before and "done.json" in before, sorted(before)
    out = train(run_dir, data, N, checkpoint__interval=3, optimizer__lr=1e-3)
    assert "nothing to do" in out.output, out.output
    assert snapshot(run_dir) == before, "a rerun with nothing to do changed the run directory"
    with open(os.path.join(run_dir, "config.yaml")) as f:
        assert re.search(r"\blr: 0\.003\b", f.read()), "config.yaml lost the lr that trained"
    print("PASS a no-op rerun with --set optimizer.lr=1e-3 leaves every file byte-identical")


def test_resume_records_changes(tmp, data):
    run_dir = os.path.join(tmp, "changed")
    train(run_dir, data, N, checkpoint__interval=N, optimizer__lr=3e-3, train__log_interval=4)
    out = train(run_dir, data, 2 * N, checkpoint__interval=N, optimizer__lr=1e-3,
                train__log_interval=4)
    first = os.path.join(checkpoint_dir(run_dir, N), "config.yaml")
    last = os.path.join(checkpoint_dir(run_dir, 2 * N), "config.yaml")
    with open(first) as f, open(last) as g:
        assert re.search(r"\blr: 0\.003\b", f.read()), "step 6's checkpoint lost its lr"
        assert re.search(r"\blr: 0\.001\b", g.read()), "step 12's checkpoint has the wrong lr"
    assert re.search(r"config changed since .*: optimizer\.lr 0\.003 -> 0\.001", out.output), \
        out.output
    events = [j for j in lines(run_dir) if j.get("event") == "config_changed"]
    assert len(events) == 1 and events[0]["step"] == N, events
    changes = {c["key"]: (c["from"], c["to"]) for c in events[0]["changes"]}
    assert changes.get("optimizer.lr") == ("0.003", "0.001"), changes
    assert changes.get("train.steps") == (str(N), str(2 * N)), changes
    print(f"PASS resume with lr 3e-3 -> 1e-3: checkpoints keep their configs, event {changes}")

    # loss / loss_avg: the interval mean after a resume covers this session's steps only.
    train_lines = {j["step"]: j for j in lines(run_dir) if "loss" in j}
    assert sorted(train_lines) == [4, 6, 8, 12], sorted(train_lines)
    assert [train_lines[s]["loss_avg_steps"] for s in (4, 6, 8, 12)] == [4, 2, 2, 4], train_lines
    for j in train_lines.values():
        assert j["loss_avg"] != j["loss"] or j["loss_avg_steps"] == 1, j
    logged = re.findall(r"step +(\d+)/\d+ \| loss ([\d.]+) \| loss_avg ([\d.]+)", out.output)
    assert [int(s) for s, _, _ in logged] == [8, 12], out.output
    for s, loss, avg in logged:
        assert abs(float(loss) - train_lines[int(s)]["loss"]) < 1e-4
        assert abs(float(avg) - train_lines[int(s)]["loss_avg"]) < 1e-4
    print("PASS loss = the step's, loss_avg over loss_avg_steps (2 after the resume at 6)")


def test_mfu_under_load(tmp, data):
    """Busy CPUs during start-up and training: MFU stays <= 1, against a stated peak."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        run_dir = os.path.join(tmp, "busy")
        out = run(train_args_with(data, run_dir))
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert re.search(r"MFU against [\d.]+ TFLOP/s per process \(best sgemm rate of", out.output), \
        out.output
    train_lines = [j for j in lines(run_dir) if "loss" in j]
    assert train_lines and all(0 < j["mfu"] <= 1 for j in train_lines), \
        [j["mfu"] for j in train_lines]
    assert all(j["gemm_efficiency"] > 0 for j in train_lines)
    with open(os.path.join(ENV["GATEDLM_CACHE_DIR"], "cpu_peak.json")) as f:
        cache = json.load(f)
    assert len(cache) == 1 and list(cache.values())[0] > 0, cache
    print(f"PASS under load MFU {max(j['mfu'] for j in train_lines):.3f} <= 1, cache {cache}")

    fixed = os.path.join(tmp, "fixed")
    out = run(train_args_with(data, fixed, peak=1000.0))
    assert "MFU against 1e+03 TFLOP/s per process (train.peak_tflops)" in out.output, out.output
    assert all(j["mfu"] < 1e-3 for j in lines(fixed) if "loss" in j)
    print("PASS train.peak_tflops is the stated peak")


def train_args_with(data, run_dir, peak=None):
    extra = {} if peak is None else {"train__peak_tflops": peak}
    return train_args(data, 4, **extra) + ["--run-dir", run_dir]


def main():
    tmp = work_dir("run_record")
    try:
        data = make_shard(os.path.join(tmp, "data.bin"))
        # The shared ENV every helper runs with: this test's own CPU peak cache.
        ENV["GATEDLM_CACHE_DIR"] = os.path.join(tmp, "cache")
        test_noop_rerun(tmp, data)
        test_resume_records_changes(tmp, data)
        test_mfu_under_load(tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
