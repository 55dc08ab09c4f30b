"""Bad configs and bad --set through the real CLI: exit code 2 and one line file:line:col."""
import os
import shutil
import subprocess

from common import Checks, binary, run, temp_dir

checks = Checks()
work = temp_dir("cfgerr")
base = os.path.join(work, "base.yaml")
with open(base, "w") as f:
    f.write("model:\n  vocab_size: 256\n  hidden_size: 64\n  num_hidden_layers: 2\n"
            "  num_attention_heads: 4\n  num_key_value_heads: 2\n  head_dim: 16\n"
            "  intermediate_size: 128\ntrain:\n  steps: 1\n")


def expect_error(name, yaml_text, expected_prefix, extra_args=(), needle=None):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(yaml_text)
    proc = run(["train", path, "--run-dir", os.path.join(work, "run-" + name)] + list(extra_args), check=False)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    ok = proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(expected_prefix.replace("FILE", path))
    if ok and needle:
        ok = needle in lines[0]
    checks.check(ok, f"{name}: exit {proc.returncode}, stderr {lines!r}")


expect_error("unknown_key", "base: base.yaml\nmodel:\n  hiden_size: 32\n", "FILE:3:3:", needle="did you mean 'hidden_size'")
expect_error("wrong_type", "base: base.yaml\ntrain:\n  steps: many\n", "FILE:3:10:")
expect_error("heads_not_divisible", "base: base.yaml\nmodel:\n  num_key_value_heads: 3\n", "FILE:3:")
expect_error("negative_size", "base: base.yaml\nmodel:\n  hidden_size: -4\n", "FILE:3:")
expect_error("malformed_yaml", "model: [unclosed\n", "FILE:")
expect_error("add_with_sigmoid", "base: base.yaml\nmodel:\n  attention_gate:\n    position: sdpa\n    combine: add\n    activation: sigmoid\n", "FILE:")
expect_error("bad_set_key", "base: base.yaml\n", "--set:1:7:", ["--set", "model.hiden_size=3"], needle="did you mean")
expect_error("bad_set_value", "base: base.yaml\n", "--set:1:", ["--set", "train.steps=abc"])
expect_error("set_without_equals", "base: base.yaml\n", "--set:1:", ["--set", "train.steps"])
# Keys that are parsed but not implemented yet are refused, at their line, naming the key.
expect_error("precision_bf16", "base: base.yaml\ntrain:\n  precision: bf16\n", "FILE:3:", needle="train.precision: bf16 is not implemented")

# A missing config file is bad input too.
proc = run(["train", os.path.join(work, "absent.yaml")], check=False)
checks.check(proc.returncode == 2 and "absent.yaml" in proc.stderr, f"missing file: exit {proc.returncode} {proc.stderr.strip()!r}")
# Unknown command-line flags exit 2 with one line.
proc = run(["train", base, "--no-such-flag"], check=False)
checks.check(proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, f"bad flag: exit {proc.returncode} {proc.stderr.strip()!r}")
# --device: an unknown device is a bad flag; cuda without a CUDA build or GPU is bad input
# (where a GPU is usable, the one-step bench simply runs).
proc = run(["bench", base, "--device", "tpu"], check=False)
checks.check(proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, f"--device tpu: exit {proc.returncode} {proc.stderr.strip()!r}")
proc = run(["bench", base, "--device", "cuda", "--steps", "1", "--warmup", "0", "--json"], check=False)
lines = proc.stderr.strip().splitlines()
checks.check(proc.returncode == 0 or (proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("--device cuda:")),
             f"--device cuda: exit {proc.returncode} {proc.stderr.strip()!r}")
# --device cuda under MPI would hand GPU pointers to MPI's host collectives: refused (exit 2)
# before any device or data is touched.
mpirun = shutil.which("mpirun")
if mpirun:
    proc = subprocess.run([mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "2", binary(), "train", base,
                           "--run-dir", os.path.join(work, "run-mpi-cuda"), "--device", "cuda"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1", GATEDLM_THREADS="1"))
    checks.check(proc.returncode == 2 and "under mpirun/srun is not supported yet" in proc.stderr,
                 f"mpirun --device cuda: exit {proc.returncode} {proc.stderr.strip()!r}")
checks.finish()
