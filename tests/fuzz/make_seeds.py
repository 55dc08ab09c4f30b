"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (committed; rerun
after changing a format). Seeds are small valid inputs plus a few near misses, so that the
fuzzer starts inside each parser instead of at its first check."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def config_seeds():
    with open(os.path.join(ROOT, "configs", "models", "dense-tiny.yaml")) as f:
        tiny = f.read()
    put("config", "dense-tiny.yaml", tiny)
    put("config", "dense-tiny-with-set", tiny + "\0train.steps=7\0model.attention_gate.position=sdpa")
    put("config", "gated-moe.yaml", tiny + "  attention_gate: {position: sdpa, granularity: headwise}\n"
        "  moe: {num_experts: 4, num_experts_per_tok: 2, moe_intermediate_size: 32}\n"
        "  rope_scaling: {type: yarn, factor: 4, original_max_position_embeddings: 256}\n"
        "train: {steps: 3, seq_len: 16, micro_batch_size: 2}\n"
        "optimizer: {lr: 1.0e-3, betas: [0.9, 0.95]}\nscheduler: {type: wsd, warmup_steps: 1}\n"
        "stability: {on_nonfinite: skip}\ncheckpoint: {interval: 2}\n")
    put("config", "bad-set", tiny + "\0model.hiden_size=3")
    put("config", "malformed.yaml", "model: [unclosed\n")


def shard(magic, version, tokens, fmt):
    header = struct.pack("<256i", magic, version, len(tokens), *([0] * 253))
    return header + struct.pack(f"<{len(tokens)}{fmt}", *tokens)


def shard_seeds():
    put("shard", "u16.bin", shard(20240520, 1, [1, 2, 3, 999, 50000], "H"))
    put("shard", "u32.bin", shard(20240801, 7, [1, 70000, 3], "I"))
    put("shard", "truncated.bin", shard(20240520, 1, [1, 2, 3], "H")[:-1])
    put("shard", "empty.bin", shard(20240520, 1, [], "H"))


def byte_level(raw):
    """GPT-2's byte -> printable character map."""
    printable = lambda b: 33 <= b <= 126 or 161 <= b <= 172 or b >= 174
    out, extra = {}, 0
    for b in range(256):
        if printable(b):
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return "".join(out[b] for b in raw)


def tokenizer_seeds():
    vocab = {byte_level(bytes([b])): b for b in range(256)}
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (" ", "hello")]
    for i, (left, right) in enumerate(merges):
        vocab[byte_level((left + right).encode())] = 256 + i
    merges_txt = "#version: 0.2\n" + "".join(
        f"{byte_level(l.encode())} {byte_level(r.encode())}\n" for l, r in merges)
    text = "hello hello\xe9 \u4e16\u754c <|endoftext|>\n\t"
    put("tokenizer", "gpt2-files", b"\x01" + json.dumps(vocab).encode() + b"\0" +
        merges_txt.encode() + b"\0" + text.encode() + b"\xff\xc3")
    hf = {
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": " ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
        "added_tokens": [{"id": 300, "content": "<|endoftext|>", "special": True}],
        "model": {"type": "BPE", "vocab": vocab,
                  "merges": [f"{byte_level(l.encode())} {byte_level(r.encode())}"
                             for l, r in merges]},
    }
    put("tokenizer", "hf-split", b"\x00" + json.dumps(hf).encode() + b"\0" + text.encode())
    hf["normalizer"] = {"type": "NFC"}
    hf["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    put("tokenizer", "hf-nfc", b"\x02" + json.dumps(hf).encode() + b"\0e\xcc\x81 hello")


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    put("safetensors", "f32-bf16.safetensors", safetensors({
        "model.norm.weight": ("F32", [4], struct.pack("<4f", 1, 2, 3, 4)),
        "model.embed_tokens.weight": ("BF16", [2, 2], struct.pack("<4H", 0x3F80, 0, 0x7FC0, 1)),
        "lm_head.weight": ("F16", [1], struct.pack("<H", 0x3C00)),
    }, {"format": "pt"}))
    put("safetensors", "empty.safetensors", safetensors({}))


def checkpoint_seeds():
    # FuzzedDataProvider input: any bytes describe some checkpoint; these cover a few shapes.
    for i, seed in enumerate([b"", b"\x01" * 64, bytes(range(256)), b"\xff\x00" * 96]):
        put("checkpoint", f"describe-{i}", seed)


if __name__ == "__main__":
    config_seeds()
    shard_seeds()
    tokenizer_seeds()
    safetensors_seeds()
    checkpoint_seeds()
