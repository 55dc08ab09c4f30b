"""Shared helpers for the end-to-end tests: the binary, temp dirs, tiny shards."""
import os
import struct
import subprocess
import sys
import tempfile

GATEDLM = os.environ.get("GATEDLM")
SOURCE_DIR = os.environ.get("GATEDLM_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def binary():
    if not GATEDLM or not os.path.exists(GATEDLM):
        sys.exit(f"GATEDLM must name the built binary (got {GATEDLM!r})")
    return GATEDLM


def run(args, cwd=None, check=True, env=None, timeout=900):
    """Runs gatedlm with args; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    full_env.setdefault("GATEDLM_THREADS", "2")
    if env:
        full_env.update(env)
    proc = subprocess.run([binary()] + list(args), cwd=cwd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        sys.exit(f"gatedlm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_shard(path, tokens):
    """llm.c uint16 shard: 256 int32 header [magic, version, count], then the tokens."""
    header = [20240520, 1, len(tokens)] + [0] * 253
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", *header))
        f.write(struct.pack(f"<{len(tokens)}H", *tokens))


def temp_dir(prefix):
    return tempfile.mkdtemp(prefix=f"gatedlm-{prefix}-")


class Checks:
    """Counts assertions and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed or not self.passed else 0)
