"""The bad-input matrix of docs/reliability.md through the real CLI, for the rows the config and
checkpoint tests do not already cover: data (a missing glob, a wrong shard magic, a truncated
shard, a token >= vocab), tokenizers (a malformed file, invalid UTF-8 in the file and in the
text), an unwritable run directory and a full disk under `prepare`. Bad input is exit 2, a
failure to write exit 1, each with one line on stderr that names the file; never a signal."""
import fcntl
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import time

from common import Checks, SOURCE_DIR, run, temp_dir, write_shard

checks = Checks()
work = temp_dir("badinput")
MODEL = os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml")  # vocab 256


def train(data, run_name, extra=()):
    return run(["train", MODEL, "--set", f"data.train={data}", "--set", "train.steps=1",
                "--set", "train.seq_len=16", "--set", "train.micro_batch_size=2",
                "--run-dir", os.path.join(work, run_name)] + list(extra), check=False)


def expect(name, proc, code, *needles):
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    ok = proc.returncode == code and len(lines) == 1 and all(n in lines[0] for n in needles)
    checks.check(ok, f"{name}: exit {proc.returncode} (want {code}), stderr {lines!r}")


def path(name):
    return os.path.join(work, name)


# ---- data ----
good = path("good.bin")
write_shard(good, [i % 251 for i in range(2000)])
expect("missing data glob", train(path("nothing-*.bin"), "glob"), 2, path("nothing-*.bin"))

with open(good, "rb") as f:
    shard = bytearray(f.read())
wrong_magic = path("magic.bin")
with open(wrong_magic, "wb") as f:
    f.write(struct.pack("<i", 12345) + shard[4:])
expect("wrong shard magic", train(wrong_magic, "magic"), 2, wrong_magic, "offset 0",
       "expected magic 20240520 or 20240801, found 12345")

truncated = path("truncated.bin")
with open(truncated, "wb") as f:
    f.write(shard[:-3])
expect("truncated shard", train(truncated, "truncated"), 2, truncated, "offset 5021",
       "expected 2000 tokens (4000 bytes) after the header, found 3997 bytes")

too_big = path("vocab.bin")
write_shard(too_big, [1, 2, 3, 300] + [5] * 100)
expect("token >= vocab", train(too_big, "vocab"), 2, too_big, "offset 1030",
       "expected a token below vocab_size 256, found 300")


# ---- tokenizers ----
def byte_level(raw):
    """GPT-2's byte -> printable character map."""
    printable = lambda b: 33 <= b <= 126 or 161 <= b <= 172 or b >= 174
    table, extra = {}, 0
    for b in range(256):
        if not printable(b):
            table[b] = chr(256 + extra)
            extra += 1
        else:
            table[b] = chr(b)
    return "".join(table[b] for b in raw)


vocab = {byte_level(bytes([b])): b for b in range(256)}
vocab[byte_level(b"he")] = 256
vocab[byte_level(b" t")] = 257
merges = f"#version: 0.2\n{byte_level(b'h')} {byte_level(b'e')}\n{byte_level(b' ')} {byte_level(b't')}\n"
tok_dir = path("tok")
os.makedirs(tok_dir)
with open(os.path.join(tok_dir, "vocab.json"), "w") as f:
    json.dump(vocab, f)
with open(os.path.join(tok_dir, "merges.txt"), "w") as f:
    f.write(merges)
text_file = path("text.txt")
text = "the hello there\n".encode() + b"\xff\xfe broken \xc3( utf-8 \xe2\x82\n" + "né 世界\n".encode()
with open(text_file, "wb") as f:
    f.write(text)


def prepare(tokenizer, out_name):
    return run(["prepare", "--tokenizer", tokenizer, "--input", text_file, "--out", path(out_name),
                "--val-fraction", "0"], check=False)


def shard_tokens(shard_path):
    with open(shard_path, "rb") as f:
        data = f.read()
    count = struct.unpack("<i", data[8:12])[0]
    return list(struct.unpack(f"<{count}H", data[1024:1024 + 2 * count]))


# Invalid UTF-8 in the text is not an error: byte-level tokenizers encode any bytes, and the
# shard decodes back to exactly the input.
proc = prepare(tok_dir, "bpe")
inverse = {i: s for s, i in vocab.items()}
unmap = {byte_level(bytes([b])): b for b in range(256)}
if proc.returncode == 0:
    ids = shard_tokens(os.path.join(path("bpe"), "train-00000.bin"))
    decoded = b"".join(bytes(unmap[c] for c in inverse[i]) for i in ids)
    checks.check(decoded == text and 256 in ids and 257 in ids,
                 f"invalid UTF-8 text, BPE: {len(ids)} tokens decode to the input")
else:
    checks.check(False, f"invalid UTF-8 text, BPE: exit {proc.returncode} {proc.stderr!r}")
proc = prepare("bytes", "bytes")
checks.check(proc.returncode == 0 and
             bytes(shard_tokens(os.path.join(path("bytes"), "train-00000.bin"))) == text,
             f"invalid UTF-8 text, bytes: exit {proc.returncode}")

malformed = path("malformed.json")
with open(malformed, "w") as f:
    f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [')
expect("malformed tokenizer.json", prepare(malformed, "malformed"), 2, malformed, "offset")

bad_utf8_dir = path("tok-utf8")
os.makedirs(bad_utf8_dir)
with open(os.path.join(bad_utf8_dir, "vocab.json"), "wb") as f:
    f.write(json.dumps(vocab).encode()[:-1] + b', "\xff\xfe": 300}')
with open(os.path.join(bad_utf8_dir, "merges.txt"), "w") as f:
    f.write(merges)
expect("invalid UTF-8 in vocab.json", prepare(bad_utf8_dir, "utf8"), 2,
       os.path.join(bad_utf8_dir, "vocab.json"), "byte 0xFF is not valid UTF-8")

truncated_merges_dir = path("tok-merges")
os.makedirs(truncated_merges_dir)
with open(os.path.join(truncated_merges_dir, "vocab.json"), "w") as f:
    json.dump(vocab, f)
with open(os.path.join(truncated_merges_dir, "merges.txt"), "w") as f:
    f.write(merges + byte_level(b"q") + "\n")
expect("merges.txt line without a pair", prepare(truncated_merges_dir, "merges"), 2,
       os.path.join(truncated_merges_dir, "merges.txt"), "line 4")

# ---- a full disk: `ulimit -f` while prepare writes its shards ----
big_text = path("big.txt")
with open(big_text, "wb") as f:
    f.write(bytes(range(32, 127)) * 100)  # 9500 bytes: a 19 kB uint16 shard
limited = path("limited")
proc = subprocess.run([os.environ["GATEDLM"], "prepare", "--input", big_text, "--out", limited,
                       "--val-fraction", "0"], capture_output=True, text=True,
                      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                            (4096, resource.RLIM_INFINITY)))
expect("disk full during prepare", proc, 1, "File too large")
checks.check(os.listdir(limited) == [], f"disk full during prepare: nothing left in {limited}: "
             f"{os.listdir(limited)}")

# ---- the run directory ----
blocker = path("a-file")
with open(blocker, "w") as f:
    f.write("not a directory\n")
expect("unwritable run dir", run(["train", MODEL, "--set", f"data.train={good}", "--set",
                                  "train.steps=1", "--set", "train.seq_len=16", "--run-dir",
                                  os.path.join(blocker, "run")], check=False),
       1, os.path.join(blocker, "run"))

# A FIFO as data never blocks: refused before it is opened for reading.
fifo = path("fifo.bin")
os.mkfifo(fifo)
expect("data.train is a FIFO", train(fifo, "fifo-data"), 2, fifo, "found a FIFO")


# ---- a run directory nobody else may write, and whose pointers are not trusted ----
def trained(name, steps=2):
    """A fresh run with a checkpoint after every step."""
    proc = train(good, name, ["--set", f"train.steps={steps}", "--set", "checkpoint.interval=1",
                              "--set", "train.log_interval=1", "--set", "train.eval_interval=0"])
    checks.check(proc.returncode == 0, f"{name}: trains ({proc.returncode}) {proc.stderr.strip()!r}")
    return os.path.join(work, name)


def train_more(name, steps):
    return train(good, name, ["--set", f"train.steps={steps}", "--set", "checkpoint.interval=1",
                              "--set", "train.log_interval=1", "--set", "train.eval_interval=0"])


locked = path("locked")
os.makedirs(locked)
with open(os.path.join(locked, ".lock"), "w") as holder:
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder.write(f"{os.getpid()}\n")
    holder.flush()
    expect("run dir locked by another trainer", train(good, "locked"), 2,
           f"is being trained by pid {os.getpid()}")
checks.check(not os.path.exists(os.path.join(locked, "metrics.jsonl")),
             "run dir locked: the second trainer wrote nothing")

for entry in ("metrics.jsonl", "config.yaml"):
    linked = path("linked-" + entry.split(".")[0])
    os.makedirs(linked)
    victim = path("victim-" + entry)
    with open(victim, "w") as f:
        f.write("precious\n")
    os.symlink(victim, os.path.join(linked, entry))
    expect(f"symlinked {entry}", train(good, os.path.basename(linked)), 2,
           os.path.join(linked, entry), "is a symbolic link")
    checks.check(open(victim).read() == "precious\n", f"symlinked {entry}: its target is untouched")

run_dir = trained("pointers")
latest = os.path.join(run_dir, "checkpoints", "latest")
for content, label in ((b"../../elsewhere\n", "a path out of checkpoints/"), (b"\x00" * 5_000_000, "5 MB of binary"),
                       (b"step_00000002 \n", "a trailing space")):
    with open(latest, "wb") as f:
        f.write(content)
    proc = run(["eval", "--checkpoint", run_dir, "--data", good, "--seq-len", "16", "--batch-size", "1",
                "--batches", "1"], check=False)
    expect(f"latest holding {label}", proc, 2, latest, "offset", "expected a checkpoint name step_NNNNNNNN")
os.remove(latest)
os.mkfifo(latest)
proc = run(["eval", "--checkpoint", run_dir, "--data", good, "--seq-len", "16", "--batch-size", "1",
            "--batches", "1"], check=False, timeout=60)
expect("latest is a FIFO", proc, 2, latest, "expected a regular file")
os.remove(latest)
os.symlink("/dev/zero", latest)
expect("latest links to /dev/zero", train_more("pointers", 3), 2, latest, "is a symbolic link")
os.remove(latest)
with open(latest, "w") as f:
    f.write("../../elsewhere\n")
proc = train_more("pointers", 3)  # auto-resume: warns, falls back to the newest checkpoint
checks.check(proc.returncode == 0 and "falling back" in proc.stdout,
             f"auto-resume past a bad latest: exit {proc.returncode} {proc.stderr.strip()!r}")
with open(latest) as f:
    checks.check(f.read() == "step_00000003\n", "auto-resume past a bad latest: latest rewritten")

stray_run = trained("stray", 2)
stray = os.path.join(stray_run, "checkpoints", "step_99999999999999999999999")
shutil.copytree(os.path.join(stray_run, "checkpoints", "step_00000001"), stray)
proc = train_more("stray", 3)
checks.check(proc.returncode == 0, f"stray step dir: exit {proc.returncode} {proc.stderr.strip()!r}")
steps = [json.loads(l)["step"] for l in open(os.path.join(stray_run, "metrics.jsonl")) if '"loss"' in l]
checks.check(steps == [1, 2, 3] and os.path.isdir(stray) and
             os.path.isdir(os.path.join(stray_run, "checkpoints", "step_00000003")),
             f"stray step dir: resumed at 2 (steps {steps}), the stray directory kept, step 3 saved")

torn_run = trained("torn", 2)
with open(os.path.join(torn_run, "metrics.jsonl"), "a") as f:
    f.write('{"step": 3, "lo')  # a kill mid-write
proc = train_more("torn", 3)
lines = open(os.path.join(torn_run, "metrics.jsonl")).read().splitlines()
valid = all(json.loads(l) is not None for l in lines)
checks.check(proc.returncode == 0 and valid and "cut short" in proc.stdout and
             [json.loads(l)["step"] for l in lines if '"loss"' in l] == [1, 2, 3],
             f"torn metrics tail: exit {proc.returncode}, every line JSON: {valid}")

# A stop signal soon after start (while the config and data load) stops cleanly: exit 0. The
# signal goes as soon as the kernel reports a SIGTERM handler (SigCgt in /proc/PID/status), so
# the test does not depend on how long the dynamic loader takes on a loaded machine.
def catches_sigterm(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1 == 1
    except FileNotFoundError:
        pass
    return False


proc = subprocess.Popen([os.environ["GATEDLM"], "train", MODEL, "--set", f"data.train={good}",
                         "--run-dir", path("early-signal")], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
deadline = time.time() + 60
while not catches_sigterm(proc.pid) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.001)
proc.send_signal(signal.SIGTERM)
out, err = proc.communicate(timeout=120)
checks.check(proc.returncode == 0, f"SIGTERM 0.2 s after start: exit {proc.returncode} {err.strip()!r}")

# ---- Slurm fields: nothing reaches the generated script that could end its line ----
spec_base = path("sweep-base.yaml")
shutil.copy(MODEL, spec_base)
for field, value, needle in (("partition", '"gpu\\nrm -rf ~"', "slurm.partition: expected one word"),
                             ("account", '"a b"', "slurm.account: expected one word"),
                             ("qos", "\"x;touch /tmp/p\"", "slurm.qos: expected one word"),
                             ("time", '"1:00:00\\necho hi"', "slurm.time: expected a Slurm time limit"),
                             ("mem", '"64G$(id)"', "slurm.mem: expected a memory size"),
                             ("srun_mpi", '"pmix\\nid"', "slurm.srun_mpi: expected one word"),
                             ("sbatch_args", '["--constraint=h100\\n#SBATCH --x"]', "slurm.sbatch_args: expected an sbatch option"),
                             ("setup", '["module load x\\nid"]', "slurm.setup: expected one line of shell"),
                             ("nodes", "4611686018427387904", "slurm.nodes: expected an integer from 1 to 100000"),
                             ("signal_before_s", "99999999", "slurm.signal_before_s: expected an integer from 0 to 65535")):
    spec = path(f"hostile-{field}.yaml")
    with open(spec, "w") as f:
        f.write(f"base: {spec_base}\nvariants:\n  a: {{}}\nslurm:\n  {field}: {value}\n")
    expect(f"slurm.{field} hostile", run(["sweep", spec, "--executor", "slurm", "--dry-run"], check=False),
           2, f"{spec}:5:", needle)
checks.finish()
