#!/usr/bin/env python3
"""Stock transformers loads gatedlm's Hugging Face exports and computes gatedlm's loss.

For the baseline (qwen3) and a G1 elementwise model (the default export: qwen3_next, all layers
full attention), trains dense-tiny 2 steps with $GATEDLM, exports it, loads the directory with
transformers.AutoModelForCausalLM (no trust_remote_code) and AutoTokenizer, and compares the
loss on the shard's first windows with `gatedlm eval` (rel 1e-4). Exit 3 when transformers is
not installed (the build machines: scripts/gpu_check.sh runs this where it is), 1 on a mismatch.
    GATEDLM=build/gatedlm GATEDLM_SOURCE_DIR=. python3 scripts/hf_transformers_check.py"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
    import transformers
except ImportError as e:
    print(f"hf_transformers_check: {e}; skipped")
    sys.exit(3)

GATEDLM = os.environ.get("GATEDLM", "build/gatedlm")
SOURCE_DIR = os.environ.get("GATEDLM_SOURCE_DIR", ".")
T, B, BATCHES = 16, 2, 2


def gatedlm(*args):
    proc = subprocess.run([GATEDLM, *args], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"gatedlm {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def main():
    print("transformers", transformers.__version__, "torch", torch.__version__)
    tmp = tempfile.mkdtemp(prefix="gatedlm-hf-tf-")
    rng = np.random.default_rng(0)
    tokens = ((np.arange(4096) * 7) % 251 ^ rng.integers(0, 4, 4096)).astype(np.uint16)
    header = np.zeros(256, np.int32)
    header[:3] = [20240520, 1, tokens.size]
    shard = os.path.join(tmp, "train.bin")
    with open(shard, "wb") as f:
        f.write(header.tobytes() + tokens.tobytes())
    failures = 0
    for name, sets in (("baseline", []),
                       ("g1-elementwise", ["model.attention_gate.position=sdpa",
                                           "model.attention_gate.granularity=elementwise"])):
        run = os.path.join(tmp, name)
        args = ["train", os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml"),
                "--run-dir", run, "--set", f"data.train={shard}", "--set", "data.tokenizer=bytes"]
        for s in [f"train.seq_len={T}", f"train.micro_batch_size={B}", "train.steps=2",
                  "train.eval_interval=0", "optimizer.lr=1.0e-2", *sets]:
            args += ["--set", s]
        gatedlm(*args)
        out = os.path.join(tmp, name + "-hf")
        gatedlm("export", "--checkpoint", run, "--format", "hf", "--out", out)
        expected = json.loads(gatedlm("eval", "--checkpoint", run, "--data", shard, "--seq-len", str(T),
                                      "--batch-size", str(B), "--batches", str(BATCHES),
                                      "--json").strip().splitlines()[-1])["val_loss"]
        model = transformers.AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.float32)
        model.eval()
        n = BATCHES * B
        ids = torch.from_numpy(tokens[: n * T + 1].astype(np.int64))
        x = torch.stack([ids[i * T: i * T + T] for i in range(n)])
        y = torch.stack([ids[i * T + 1: i * T + T + 1] for i in range(n)])
        with torch.no_grad():
            logits = model(input_ids=x).logits
        loss = float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)))
        rel = abs(loss - expected) / abs(expected)
        tok = transformers.AutoTokenizer.from_pretrained(out)
        text = "KING:\n  O, 1x!"
        tok_ok = tok.decode(tok(text)["input_ids"]) == text and tok(text)["input_ids"] == list(text.encode())
        ok = rel <= 1e-4 and tok_ok
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}: {type(model).__name__} loss {loss:.6f} vs gatedlm "
              f"{expected:.6f} (rel {rel:.1e}); tokenizer round trip {tok_ok}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
