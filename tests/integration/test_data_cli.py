"""The data pipeline through the CLI: Megatron MMIDIDX input written with numpy (from the format
spec), the bad-input matrix (exit 2, one line naming the file and the byte offset), `tokenizer
train` -> `prepare` -> `train` -> `generate`."""
import json
import math
import os
import struct

import numpy as np

from common import SOURCE_DIR, Checks, run, temp_dir, write_shard

checks = Checks()
work = temp_dir("datacli")
CONFIG = os.path.join(SOURCE_DIR, "configs", "train", "tiny-cpu.yaml")
TINY = ["--set", "model.hidden_size=32", "--set", "model.num_hidden_layers=1", "--set", "model.num_attention_heads=2",
        "--set", "model.num_key_value_heads=1", "--set", "model.head_dim=16", "--set", "model.intermediate_size=64",
        "--set", "train.steps=4", "--set", "train.seq_len=16", "--set", "train.micro_batch_size=2",
        "--set", "train.eval_interval=0", "--set", "train.log_interval=2", "--set", "checkpoint.interval=0",
        "--set", "data.val="]


def train(name, data, extra=()):
    return run(["train", CONFIG, "--run-dir", os.path.join(work, name), "--set", f"data.train={data}"] + TINY + list(extra),
               check=False)


def expect_input_error(name, proc, *fragments):
    lines = proc.stderr.strip().splitlines()
    ok = proc.returncode == 2 and len(lines) == 1 and all(f in lines[0] for f in fragments)
    checks.check(ok, f"{name}: exit {proc.returncode}, stderr {lines!r}")


def write_mmidx(prefix, documents, dtype, code):
    """Megatron indexed dataset: PREFIX.bin holds the sequences back to back; PREFIX.idx is
    magic, version (u64 1), dtype code (u8), sequence count, document count (u64), then the
    int32 lengths, int64 byte pointers and int64 document boundaries."""
    arrays = [np.asarray(d, dtype=dtype) for d in documents]
    with open(prefix + ".bin", "wb") as f:
        for a in arrays:
            f.write(a.tobytes())
    lengths = np.array([len(a) for a in arrays], dtype=np.int32)
    pointers = np.concatenate([[0], np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize)]).astype(np.int64)
    doc_idx = np.arange(len(arrays) + 1, dtype=np.int64)
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", len(arrays)))
        f.write(struct.pack("<Q", len(doc_idx)))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_idx.tobytes())


# ---- Megatron input ----
rng = np.random.default_rng(0)
docs = [rng.integers(0, 256, size=n) for n in (120, 75, 300)]
for dtype, code in ((np.uint16, 8), (np.int32, 4)):
    prefix = os.path.join(work, f"mega_{np.dtype(dtype).name}")
    write_mmidx(prefix, docs, dtype, code)
    proc = train(f"mega-{code}", prefix + ".bin")
    checks.check(proc.returncode == 0, f"train on a Megatron .bin/.idx pair (dtype code {code}): exit {proc.returncode} {proc.stderr[-300:]!r}")
# A glob over both halves of a pair reads the stream once; naming the .idx works too.
proc = train("mega-glob", os.path.join(work, "mega_uint16.*"))
checks.check(proc.returncode == 0, f"a glob matching .bin and .idx: exit {proc.returncode}")
proc = train("mega-idx", os.path.join(work, "mega_uint16.idx"))
checks.check(proc.returncode == 0, f"naming the .idx: exit {proc.returncode}")

bad = os.path.join(work, "bad_magic")
write_mmidx(bad, docs, np.uint16, 8)
with open(bad + ".idx", "r+b") as f:
    f.write(b"XXIDIDX\x00\x00")
expect_input_error("Megatron bad magic", train("bad-magic", bad + ".idx"), bad + ".idx", "offset 0", "MMIDIDX")
trunc = os.path.join(work, "truncated_mega")
write_mmidx(trunc, docs, np.uint16, 8)
os.truncate(trunc + ".bin", 2 * 400)
expect_input_error("Megatron truncated .bin", train("mega-trunc", trunc + ".bin"), trunc + ".bin", "offset 800", "990 bytes")
short_idx = os.path.join(work, "short_idx")
write_mmidx(short_idx, docs, np.uint16, 8)
os.truncate(short_idx + ".idx", 40)
expect_input_error("Megatron truncated .idx", train("idx-trunc", short_idx + ".idx"), short_idx + ".idx", "offset 18", "counts that fit a 40-byte file")
big = os.path.join(work, "big_token")
write_mmidx(big, [list(range(100)) + [300] + list(range(50))], np.uint16, 8)
expect_input_error("Megatron token >= vocab", train("mega-vocab", big + ".bin"), big + ".bin", "offset 200", "below vocab_size 256, found 300")
floats = os.path.join(work, "floats")
write_mmidx(floats, docs, np.float32, 7)
expect_input_error("Megatron float dtype", train("mega-float", floats + ".idx"), floats + ".idx", "offset 17", "integer dtype")

# ---- llm.c shards: the bad-input matrix ----
expect_input_error("empty glob", train("empty-glob", os.path.join(work, "nothing-*.bin")), "nothing-*.bin: no files match")
good = os.path.join(work, "good.bin")
write_shard(good, list(range(256)) * 2)
wrong_magic = os.path.join(work, "wrong_magic.bin")
with open(good, "rb") as f:
    data = bytearray(f.read())
data[0:4] = struct.pack("<i", 1234)
open(wrong_magic, "wb").write(data)
expect_input_error("wrong shard magic", train("wrong-magic", wrong_magic), wrong_magic, "offset 0", "expected magic 20240520 or 20240801, found 1234")
truncated = os.path.join(work, "truncated.bin")
with open(good, "rb") as f:
    open(truncated, "wb").write(f.read()[:1024 + 300])
expect_input_error("truncated shard", train("truncated", truncated), truncated, "offset 1324", "expected 512 tokens (1024 bytes)")
over_vocab = os.path.join(work, "over_vocab.bin")
write_shard(over_vocab, list(range(256)) + [256] + list(range(100)))
expect_input_error("token >= vocab", train("over-vocab", over_vocab), over_vocab, "offset 1536", "below vocab_size 256, found 256")
expect_input_error("missing file", train("missing", os.path.join(work, "absent.bin")), "absent.bin")

# ---- prepare: malformed tokenizer, missing input, invalid UTF-8 ----
text = os.path.join(work, "text.txt")
with open(text, "wb") as f:
    f.write(b"valid text \xff\xfe invalid bytes \xc3 and more\n" * 40)
bad_tok = os.path.join(work, "tokenizer.json")
with open(bad_tok, "w") as f:
    f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [')
expect_input_error("malformed tokenizer.json", run(["prepare", "--tokenizer", bad_tok, "--input", text, "--out", os.path.join(work, "p0")], check=False),
                   bad_tok, "offset", "expected")
expect_input_error("missing prepare input", run(["prepare", "--input", os.path.join(work, "absent.txt"), "--out", os.path.join(work, "p1")], check=False),
                   "absent.txt")
# Invalid UTF-8 is not rejected (docs/data.md): byte-level tokenizers keep every byte.
proc = run(["prepare", "--input", text, "--out", os.path.join(work, "p2"), "--val-fraction", "0"], check=False)
raw = open(os.path.join(work, "p2", "train-00000.bin"), "rb").read()[1024:]
checks.check(proc.returncode == 0 and bytes(np.frombuffer(raw, dtype=np.uint16).astype(np.uint8)) == open(text, "rb").read(),
             f"invalid UTF-8 through the byte tokenizer: every byte kept (exit {proc.returncode})")

# ---- tokenizer train -> prepare -> train -> generate ----
corpus = os.path.join(work, "corpus.txt")
with open(os.path.join(SOURCE_DIR, "docs", "data.md"), encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as out:
    out.write(src.read())  # real English prose of a useful size, always present
spm = os.path.join(work, "spm.model")
proc = run(["tokenizer", "train", "--type", "bpe", "--vocab-size", "600", "--input", corpus, "--out", spm], check=False)
checks.check(proc.returncode == 0 and os.path.exists(spm), f"tokenizer train: exit {proc.returncode} {proc.stderr[-300:]!r}")
shards = os.path.join(work, "spm_shards")
proc = run(["prepare", "--tokenizer", spm, "--input", corpus, "--out", shards], check=False)
checks.check(proc.returncode == 0, f"prepare with the trained model: exit {proc.returncode} {proc.stderr[-300:]!r}")
run_dir = os.path.join(work, "spm-run")
proc = run(["train", CONFIG, "--run-dir", run_dir, "--set", f"data.train={shards}/train-*.bin", "--set", "model.vocab_size=600"] + TINY, check=False)
checks.check(proc.returncode == 0, f"train on the trained tokenizer's shards: exit {proc.returncode} {proc.stderr[-300:]!r}")
# train.sample_interval logs continuations of train.sample_prompt through the same decoder.
sample_dir = os.path.join(work, "spm-samples")
proc = run(["train", CONFIG, "--run-dir", sample_dir, "--set", f"data.train={shards}/train-*.bin", "--set", "model.vocab_size=600",
            "--set", "train.sample_interval=2", "--set", "train.sample_prompt=The loader", "--set", f"data.tokenizer={spm}"] + TINY, check=False)
samples = [json.loads(l) for l in open(os.path.join(sample_dir, "metrics.jsonl")) if '"sample"' in l] if proc.returncode == 0 else []
checks.check([s["step"] for s in samples] == [2, 4] and all(s["sample"].startswith("The loader") for s in samples),
             f"train.sample_interval=2 logs samples at steps 2 and 4: {samples!r} {proc.stderr[-300:]!r}")
expect_input_error("sample_interval without data.tokenizer",
                   run(["train", CONFIG, "--run-dir", os.path.join(work, "no-tok"), "--set", "train.sample_interval=2"] + TINY, check=False),
                   "train.sample_interval needs data.tokenizer")
prompt = "The loader reads"
greedy = ["generate", "--checkpoint", run_dir, "--tokenizer", spm, "--prompt", prompt, "--max-new-tokens", "12", "--temperature", "0"]
first, second = run(greedy, check=False), run(greedy, check=False)
checks.check(first.returncode == 0 and first.stdout.startswith(prompt) and len(first.stdout) > len(prompt) + 1,
             f"generate: exit {first.returncode}, {first.stdout.strip()!r} {first.stderr[-300:]!r}")
checks.check(first.stdout == second.stdout, "greedy generation is deterministic")
sampled = ["generate", "--checkpoint", run_dir, "--tokenizer", spm, "--prompt", prompt, "--max-new-tokens", "12", "--top-k", "20", "--seed", "7"]
checks.check(run(sampled).stdout == run(sampled).stdout, "seeded sampling is deterministic")
# The checkpoint records data.tokenizer: generate reads it unless told otherwise.
recorded = run(["generate", "--checkpoint", sample_dir, "--prompt", prompt, "--max-new-tokens", "12", "--temperature", "0"], check=False)
explicit = run(["generate", "--checkpoint", sample_dir, "--tokenizer", spm, "--prompt", prompt, "--max-new-tokens", "12", "--temperature", "0"], check=False)
checks.check(recorded.returncode == 0 and recorded.stdout == explicit.stdout and recorded.stdout.startswith(prompt),
             f"generate without --tokenizer uses the checkpoint's data.tokenizer: {recorded.returncode} {recorded.stdout!r} {explicit.stdout!r} {recorded.stderr[-300:]!r}")
expect_input_error("generate with no --tokenizer and none recorded",
                   run(["generate", "--checkpoint", run_dir, "--prompt", prompt], check=False),
                   "pass --tokenizer")
expect_input_error("generate with a tokenizer far smaller than the model (bytes on 600 ids)",
                   run(["generate", "--checkpoint", run_dir, "--tokenizer", "bytes", "--prompt", prompt], check=False),
                   "has 256 tokens but the model has vocab_size 600")
# Bits per byte: with the byte tokenizer every target is one byte, so it is loss / ln 2; with the
# trained one, the recorded data.tokenizer is used and a token spans several bytes.
byte_eval = run(["eval", "--checkpoint", os.path.join(work, "mega-8"), "--data", os.path.join(work, "p2", "train-00000.bin"),
                 "--seq-len", "16", "--batch-size", "2", "--batches", "2", "--tokenizer", "bytes", "--json"], check=False)
bj = json.loads(byte_eval.stdout.strip().splitlines()[-1]) if byte_eval.returncode == 0 else {}
checks.check(bj.get("bytes") == bj.get("tokens") == 64 and abs(bj["bits_per_byte"] - bj["val_loss"] / math.log(2)) < 1e-9,
             f"eval --tokenizer bytes: bits per byte = loss / ln 2 over 64 bytes: {bj} {byte_eval.stderr[-300:]!r}")
spm_eval = run(["eval", "--checkpoint", sample_dir, "--data", f"{shards}/train-*.bin", "--seq-len", "16",
                "--batch-size", "2", "--batches", "2", "--json"], check=False)
sj = json.loads(spm_eval.stdout.strip().splitlines()[-1]) if spm_eval.returncode == 0 else {}
checks.check(sj.get("tokenizer") == spm and sj.get("bytes", 0) > sj.get("tokens", 0)
             and abs(sj["bits_per_byte"] - sj["val_loss"] * sj["tokens"] / math.log(2) / sj["bytes"]) < 1e-9,
             f"eval reads data.tokenizer from the checkpoint for bits per byte: {sj} {spm_eval.stderr[-300:]!r}")
no_tok = run(["eval", "--checkpoint", run_dir, "--data", f"{shards}/train-*.bin", "--seq-len", "16", "--batch-size", "2",
              "--batches", "2", "--json"], check=False)
checks.check(no_tok.returncode == 0 and "bits_per_byte" not in no_tok.stdout,
             f"eval without a known tokenizer reports no bits per byte: {no_tok.stdout!r}")

# The export carries the tokenizer it trained with, and its BOS/EOS (SentencePiece: 1 and 2).
hf_dir = os.path.join(work, "spm-hf")
proc = run(["export", "--checkpoint", sample_dir, "--format", "hf", "--out", hf_dir], check=False)
gen = json.load(open(os.path.join(hf_dir, "generation_config.json"))) if proc.returncode == 0 else {}
tok_cfg = json.load(open(os.path.join(hf_dir, "tokenizer_config.json"))) if proc.returncode == 0 else {}
checks.check(proc.returncode == 0 and open(os.path.join(hf_dir, "tokenizer.model"), "rb").read() == open(spm, "rb").read()
             and gen.get("bos_token_id") == 1 and gen.get("eos_token_id") == 2
             and tok_cfg.get("eos_token") == "</s>" and tok_cfg.get("tokenizer_class") == "LlamaTokenizer",
             f"export writes tokenizer.model, tokenizer_config.json and BOS/EOS: {gen} {tok_cfg} {proc.stderr[-300:]!r}")

expect_input_error("generate with a tokenizer larger than the model",
                   run(["generate", "--checkpoint", os.path.join(work, "mega-8"), "--tokenizer", spm, "--prompt", prompt], check=False),
                   "vocab_size 256")
checks.finish()
