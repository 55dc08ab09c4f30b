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

# Sizes whose products overflow, or exceed what a process can address, are refused at the key
# before anything is allocated, naming the bytes (once SIGSEGV, double free, or a silent wrap).
expect_error("vocab_overflow", "base: base.yaml\nmodel:\n  vocab_size: 144115188075855872\n", "FILE:3:", needle="more than 2^64 bytes")
expect_error("intermediate_max", "base: base.yaml\nmodel:\n  intermediate_size: 9223372036854775807\n", "FILE:3:", needle="model.intermediate_size: the MLP projections would take")
expect_error("heads_2_62", "base: base.yaml\nmodel:\n  num_attention_heads: 4611686018427387904\n  num_key_value_heads: 4611686018427387904\n", "FILE:", needle="a process can address")
expect_error("hidden_1e9", "base: base.yaml\nmodel:\n  hidden_size: 1000000000\n", "FILE:3:", needle="TiB")
expect_error("layers_1e6_set", "base: base.yaml\n", "--set:1:", ["--set", "model.num_hidden_layers=1000000", "--set", "model.hidden_size=100000"], needle="bytes")
expect_error("seq_len_squared", "base: base.yaml\ntrain:\n  seq_len: 100000000\n", "FILE:3:", needle="train.seq_len: the attention scores of one head would take")
expect_error("grad_accum_max", "base: base.yaml\ntrain:\n  grad_accum_steps: 9223372036854775807\n", "FILE:3:", needle="train.grad_accum_steps: the run's token count")
expect_error("experts_1e9", "base: base.yaml\nmodel:\n  moe: {num_experts: 1000000000, num_experts_per_tok: 1, moe_intermediate_size: 100000}\n", "FILE:3:", needle="the experts would take")
# Thread counts: --threads out of range is a bad flag; a malformed variable names itself.
for threads in ("100000", "-3"):
    proc = run(["train", base, "--threads", threads, "--run-dir", os.path.join(work, "run-threads")], check=False)
    lines = proc.stderr.strip().splitlines()
    checks.check(proc.returncode == 2 and len(lines) == 1 and "--threads" in lines[0], f"--threads {threads}: exit {proc.returncode} {lines!r}")
for value in ("abc", "0", "100000", ""):
    proc = run(["train", base, "--run-dir", os.path.join(work, "run-env-threads")], check=False, env={"GATEDLM_THREADS": value})
    lines = proc.stderr.strip().splitlines()
    checks.check(proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("GATEDLM_THREADS: expected a thread count from 1 to 1024"),
                 f"GATEDLM_THREADS={value!r}: exit {proc.returncode} {lines!r}")

# YAML limits: an alias bomb stops at a node budget, a duplicate among 100k keys is found in linear
# time, a second document is refused (in files and --set values), and a key holding a newline
# still gives one line.
bomb = "a0: &a0 {x: 1, y: 2}\n" + "".join(f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i-1}" for j in range(10)) + "}\n" for i in range(1, 10))
expect_error("alias_bomb", bomb, "FILE:", needle="expands to more than 10000 nodes")
many = "train:\n" + "".join(f"  k{i}: 1\n" for i in range(100000)) + "  k5: 2\n"
expect_error("many_keys", many, "FILE:", needle="more than 10000 nodes")
expect_error("many_keys_duplicate", "train:\n" + "".join(f"  k{i}: 1\n" for i in range(3000)) + "  k5: 2\n", "FILE:3002:3:", needle="duplicate key 'k5' (first written at 7:3)")
expect_error("self_alias", "base: base.yaml\nloop: &a {q: *a}\n", "FILE:2:", needle="nests deeper than 64 levels")
expect_error("second_document", "base: base.yaml\n---\ntrain: {steps: 5}\n", "FILE:3:", needle="found a second one")
expect_error("document_end_marker", "base: base.yaml\n...\ntrain: {steps: 5}\n", "FILE:3:", needle="found a second one")
expect_error("set_second_document", "base: base.yaml\n", "--set:1:", ["--set", "train.steps=3\n---\n5"], needle="found a second document")
expect_error("newline_in_key", 'base: base.yaml\ntrain:\n  "st\\neps": 3\n', "FILE:3:", needle="st\\neps")
fifo = os.path.join(work, "fifo.yaml")
os.mkfifo(fifo)
proc = run(["train", fifo], check=False, timeout=60)
checks.check(proc.returncode == 2 and proc.stderr.strip() == f"{fifo}: expected a regular file (a YAML config), found a FIFO",
             f"config is a FIFO: exit {proc.returncode} {proc.stderr.strip()!r}")

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
