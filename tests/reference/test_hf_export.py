#!/usr/bin/python3
"""Hugging Face export/import: `gatedlm export --format hf` and `gatedlm import --hf`.

For the baseline, G1 headwise, G1 elementwise (one of them untied) and a Qwen3-MoE with a G1
gate (its MoE block written after Hugging Face's Qwen3MoeSparseMoeBlock) this test (G1 elementwise
in the default layout, transformers' own Qwen3-Next; the headwise and MoE cases with --layout
official, the paper's modeling_qwen3.py):
  1. trains dense-tiny 2 steps on a generated llm.c shard and exports the checkpoint (fp32);
  2. parses model.safetensors with its own reader (below) and checks config.json's HF keys;
  3. runs an independent Qwen3 forward in float64 written after the official gated-attention
     modeling_qwen3.py (widened q_proj split per KV group, sigmoid(gate) on the SDPA output
     before o_proj), or after transformers' modeling_qwen3_next.py (q_proj viewed as
     [B, T, H, 2D] and chunked into query and gate per head; RMSNorms scale by 1 + weight; every
     layer full attention), on the exported tensors, and compares it
       - with the same forward over model.h5 in gatedlm's layout (separate gate_proj),
       - with `gatedlm eval`'s loss on the checkpoint (gatedlm's own numbers),
       - with `gatedlm oracle-dump`'s logits, its weights packed into the official layout here;
  4. imports the export and checks every tensor is bit-identical to the checkpoint, that it
     evaluates identically, that `train --resume` starts from it, and that a re-export is
     identical;
  5. exports bf16 and checks every value is the round-to-nearest-even of the fp32 one.
Then an unsupported variant (G2) must be refused with exit 2 and a message that names it, and
so must G1 headwise without --layout official. The tokenizer files (--tokenizer bytes: a
byte-level tokenizer.json) decode every byte, and generation_config.json carries BOS/EOS keys.
transformers itself is not installed here: these readers are independent of gatedlm's code.
Fails (never skips) when GATEDLM is unset or a command fails.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

torch.set_num_threads(1)

GATEDLM = os.environ.get("GATEDLM")
SOURCE_DIR = os.environ.get("GATEDLM_SOURCE_DIR")
TOL = 1e-4
T, B, BATCHES = 16, 2, 2

HF_KEYS = [
    "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
    "vocab_size", "tie_word_embeddings", "max_position_embeddings", "torch_dtype", "hidden_act",
    "attention_bias", "rope_scaling", "headwise_attn_output_gate", "elementwise_attn_output_gate",
]

failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def gatedlm(*args, expect=0):
    env = dict(os.environ, OMP_NUM_THREADS="2", GATEDLM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([GATEDLM, *args], capture_output=True, text=True, env=env, timeout=600)
    if expect is not None and proc.returncode != expect:
        sys.exit(f"gatedlm {' '.join(args)}: exit {proc.returncode}, expected {expect}\n"
                 f"{proc.stdout}\n{proc.stderr}")
    return proc


# ---- a small safetensors reader of our own -------------------------------------------------

def read_safetensors(path):
    """{name: (dtype, float32 array)} and the metadata, checking offsets as the spec asks."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    out, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, stop = info["data_offsets"]
        assert begin == end, f"{name}: gap or overlap at {begin}"
        end = stop
        raw = data[begin:stop]
        shape = tuple(info["shape"])
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, "<f4")
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise AssertionError(f"{name}: unexpected dtype {info['dtype']}")
        assert arr.size == int(np.prod(shape, dtype=np.int64)), name
        out[name] = (info["dtype"], arr.reshape(shape).copy())
    assert end == len(data), "trailing bytes after the last tensor"
    return out, meta


def bf16_rne(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)
    return (r << 16).astype(np.uint32).view(np.float32)


# ---- an independent Qwen3 forward (float64) ----------------------------------------------

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, theta):
    # x [B, H, T, D]; rotate-half pairs (i, i + D/2), positions from 0.
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2 / d)
    ang = torch.arange(x.shape[2], dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def official_q_and_gate(p, pre, x, cfg):
    """modeling_qwen3.py (gated attention): one widened q_proj, split per KV group."""
    b, t, _ = x.shape
    H, K, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    G = H // K
    q = x @ p[pre + "q_proj.weight"].T
    if cfg.get("headwise_attn_output_gate"):
        q = q.view(b, t, K, -1)
        q, gate = torch.split(q, [G * D, G], dim=-1)
        gate = gate.reshape(b, t, H, 1)
    elif cfg.get("elementwise_attn_output_gate"):
        q = q.view(b, t, K, -1)
        q, gate = torch.split(q, [G * D, G * D], dim=-1)
        gate = gate.reshape(b, t, H, D)
    else:
        gate = None
    return q.reshape(b, t, H, D), gate


def next_q_and_gate(p, pre, x, cfg):
    """modeling_qwen3_next.py: q_proj [2*H*D, C] viewed per head as [query D | gate D]."""
    b, t, _ = x.shape
    H, D = cfg["num_attention_heads"], cfg["head_dim"]
    q, gate = torch.chunk((x @ p[pre + "q_proj.weight"].T).view(b, t, H, 2 * D), 2, dim=-1)
    return q, gate


def gatedlm_q_and_gate(p, pre, x, cfg):
    """gatedlm's layout: q_proj [H*D, C] and a separate gate_proj [H or H*D, C]."""
    b, t, _ = x.shape
    H, D = cfg["num_attention_heads"], cfg["head_dim"]
    q = (x @ p[pre + "q_proj.weight"].T).view(b, t, H, D)
    if pre + "gate_proj.weight" not in p:
        return q, None
    g = x @ p[pre + "gate_proj.weight"].T
    return q, g.view(b, t, H, -1)


def swiglu(p, m, x):
    act = torch.nn.functional.silu(x @ p[m + "gate_proj.weight"].T) * (x @ p[m + "up_proj.weight"].T)
    return act @ p[m + "down_proj.weight"].T


def hf_moe_layer(cfg, layer):
    """Qwen3-MoE's placement, from config.json alone."""
    return (cfg.get("model_type") == "qwen3_moe" and layer not in cfg.get("mlp_only_layers", [])
            and (layer + 1) % cfg.get("decoder_sparse_step", 1) == 0)


def hf_moe_block(p, m, x, cfg):
    """Qwen3MoeSparseMoeBlock: softmax over the router logits, top-k, optional renormalisation,
    the chosen experts' SwiGLU outputs weighted and summed."""
    probs = torch.softmax(x @ p[m + "gate.weight"].T, dim=-1)
    weights, experts = probs.topk(cfg["num_experts_per_tok"], dim=-1)
    if cfg["norm_topk_prob"]:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    out = torch.zeros_like(x)
    for e in range(cfg["num_experts"]):
        chosen = (experts == e)  # [B, T, k]: at most one True per token
        if chosen.any():
            weight = (weights * chosen).sum(dim=-1, keepdim=True)
            out = out + weight * swiglu(p, m + f"experts.{e}.", x)
    return out


def forward(p, cfg, tokens, q_and_gate, zero_centred=False):
    """zero_centred: RMSNorm weights stored as w - 1 (Qwen3-Next scales by 1 + weight)."""
    H, K, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    if zero_centred:
        p = {k: (1 + v if k.endswith("norm.weight") else v) for k, v in p.items()}
    b, t = tokens.shape
    h = p["model.embed_tokens.weight"][tokens]
    mask = torch.full((t, t), float("-inf"), dtype=torch.float64).triu(1)
    for layer in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{layer}."
        a = pre + "self_attn."
        x = rms_norm(h, p[pre + "input_layernorm.weight"], eps)
        q, gate = q_and_gate(p, a, x, cfg)
        k = (x @ p[a + "k_proj.weight"].T).view(b, t, K, D)
        v = (x @ p[a + "v_proj.weight"].T).view(b, t, K, D)
        q = rope(rms_norm(q, p[a + "q_norm.weight"], eps).transpose(1, 2), theta)
        k = rope(rms_norm(k, p[a + "k_norm.weight"], eps).transpose(1, 2), theta)
        v = v.transpose(1, 2)
        k = k.repeat_interleave(H // K, dim=1)  # query head h reads KV head h // G
        v = v.repeat_interleave(H // K, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / D ** 0.5 + mask, -1) @ v
        o = att.transpose(1, 2)  # [B, T, H, D]
        if gate is not None:
            o = o * torch.sigmoid(gate)
        h = h + o.reshape(b, t, H * D) @ p[a + "o_proj.weight"].T
        x = rms_norm(h, p[pre + "post_attention_layernorm.weight"], eps)
        m = pre + "mlp."
        if hf_moe_layer(cfg, layer):
            h = h + hf_moe_block(p, m, x, cfg)
        else:
            h = h + swiglu(p, m, x)
    h = rms_norm(h, p["model.norm.weight"], eps)
    head = p.get("lm_head.weight", p["model.embed_tokens.weight"])
    return h @ head.T


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def to_torch(arrays):
    return {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in arrays.items()}


def pack_next(params, cfg):
    """Python's own conversion of gatedlm tensors into Qwen3-Next's: per-head [q | gate] rows,
    norms minus one."""
    H, D = cfg["num_attention_heads"], cfg["head_dim"]
    out = {}
    for name, w in params.items():
        if name.endswith("self_attn.gate_proj.weight"):
            continue
        if name.endswith("self_attn.q_proj.weight"):
            g = params[name.replace("q_proj", "gate_proj")]
            w = np.concatenate([w.reshape(H, D, -1), g.reshape(H, D, -1)], axis=1).reshape(-1, w.shape[1])
        elif name.endswith("norm.weight"):
            w = w - 1
        out[name] = w
    return out


def pack_official(params, cfg):
    """Python's own packing of gatedlm tensors into the official widened q_proj."""
    H, K, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    G = H // K
    out = {}
    for name, w in params.items():
        if name.endswith("self_attn.gate_proj.weight"):
            continue
        if name.endswith("self_attn.q_proj.weight") and name.replace("q_proj", "gate_proj") in params:
            g = params[name.replace("q_proj", "gate_proj")]
            q = w.reshape(K, G * D, -1)
            g = g.reshape(K, g.shape[0] // K, -1)
            w = np.concatenate([q, g], axis=1).reshape(-1, w.shape[1])
        out[name] = w
    return out


# ---- the cases --------------------------------------------------------------------------------

def write_shard(path, n=4096, seed=0):
    rng = np.random.default_rng(seed)
    tokens = ((np.arange(n) * 7) % 251 ^ rng.integers(0, 4, n)).astype(np.uint16)
    header = np.zeros(256, np.int32)
    header[:3] = [20240520, 1, n]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.tobytes())
    return tokens


def model_h5(path):
    with h5py.File(path, "r") as f:
        return {k: f["model"][k][()] for k in f["model"].keys()}


def run_case(name, overrides, tmp, shard, tokens, layout=()):
    """layout: export's extra arguments (["--layout", "official"] for the paper's layout)."""
    print(f"--- {name}", flush=True)
    model_yaml = os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml")
    sets = [f"train.seq_len={T}", f"train.micro_batch_size={B}", "train.steps=2",
            "train.log_interval=1", "train.eval_interval=0", "train.seed=7",
            "optimizer.lr=1.0e-2", "scheduler.type=constant", *overrides]
    run_dir = os.path.join(tmp, name, "run")
    args = ["train", model_yaml, "--run-dir", run_dir, "--set", f"data.train={shard}"]
    for s in sets:
        args += ["--set", s]
    gatedlm(*args)
    latest = open(os.path.join(run_dir, "checkpoints", "latest")).read().strip()
    ckpt = latest if os.path.isabs(latest) else os.path.join(run_dir, "checkpoints", latest)
    ours = model_h5(os.path.join(ckpt, "model.h5"))

    out = os.path.join(tmp, name, "hf")
    gatedlm("export", "--checkpoint", run_dir, "--format", "hf", "--out", out, *layout)
    cfg = json.load(open(os.path.join(out, "config.json")))
    nxt = cfg["model_type"] == "qwen3_next"
    hf_q_and_gate = next_q_and_gate if nxt else official_q_and_gate
    pack_hf = pack_next if nxt else pack_official
    gen = json.load(open(os.path.join(out, "generation_config.json")))
    check(isinstance(gen, dict), f"{name}: generation_config.json is a JSON object")
    check(gen.get("bos_token_id", 0) is None and gen.get("eos_token_id", 0) is None,
          f"{name}: no tokenizer recorded, so BOS/EOS are null: {gen}")
    keys = [k for k in HF_KEYS if not (nxt and k.endswith("_attn_output_gate"))]
    missing = [k for k in keys if k not in cfg]
    check(not missing, f"{name}: config.json has the HF keys (missing {missing})")
    if nxt:
        L = cfg["num_hidden_layers"]
        check(cfg["architectures"] == ["Qwen3NextForCausalLM"] and cfg["layer_types"] == ["full_attention"] * L
              and cfg["partial_rotary_factor"] == 1.0 and cfg["mlp_only_layers"] == list(range(L))
              and cfg["num_experts"] == 0, f"{name}: a Qwen3-Next of full-attention dense layers")
    else:
        moe = "qwen3_moe" if "num_experts" in cfg else None
        want_arch = ["Qwen3MoeForCausalLM"] if moe else ["Qwen3ForCausalLM"]
        check(cfg["architectures"] == want_arch and cfg["model_type"] == (moe or "qwen3"),
              f"{name}: architectures / model_type")
    check(cfg["torch_dtype"] == "float32", f"{name}: torch_dtype")
    import yaml
    model_cfg = yaml.safe_load(open(os.path.join(ckpt, "config.yaml")))["model"]
    same = [k for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
                        "tie_word_embeddings") if cfg[k] != model_cfg[k]]
    same += [k for k in ("rms_norm_eps", "rope_theta") if float(cfg[k]) != float(model_cfg[k])]
    check(not same, f"{name}: config.json values equal the checkpoint's ({same})")
    tensors, meta = read_safetensors(os.path.join(out, "model.safetensors"))
    check(meta.get("format") == "pt", f"{name}: __metadata__.format == pt")
    hf = {k: a for k, (_, a) in tensors.items()}
    check(not any("self_attn.gate_proj" in k for k in hf), f"{name}: no separate gate_proj in HF")
    check(("lm_head.weight" in hf) == (not cfg["tie_word_embeddings"]), f"{name}: lm_head iff untied")
    H, D = cfg["num_attention_heads"], cfg["head_dim"]
    gw = H * D if nxt else H if cfg["headwise_attn_output_gate"] else H * D if cfg["elementwise_attn_output_gate"] else 0
    qshape = hf["model.layers.0.self_attn.q_proj.weight"].shape
    check(qshape == (H * D + gw, cfg["hidden_size"]), f"{name}: q_proj widened to {qshape}")

    # gatedlm's own numbers: eval loss on the first BATCHES*B windows of the shard.
    ev = json.loads(gatedlm("eval", "--checkpoint", run_dir, "--data", shard, "--seq-len", str(T),
                            "--batch-size", str(B), "--batches", str(BATCHES), "--json").stdout.strip().splitlines()[-1])
    n = BATCHES * B
    inp = torch.from_numpy(tokens[: n * T + 1].astype(np.int64))
    x = torch.stack([inp[i * T: i * T + T] for i in range(n)])
    y = torch.stack([inp[i * T + 1: i * T + T + 1] for i in range(n)])
    logits_hf = forward(to_torch(hf), cfg, x, hf_q_and_gate, zero_centred=nxt)
    logits_ours = forward(to_torch(ours), cfg, x, gatedlm_q_and_gate)
    err = rel_err(logits_hf.numpy(), logits_ours.numpy())
    check(err <= 1e-12, f"{name}: {cfg['model_type']}-layout logits == gatedlm-layout logits (rel {err:.2e})")
    if nxt:
        # Negative controls: the official grouping read as Qwen3-Next's, and norms read as w.
        werr = rel_err(forward(to_torch(pack_official(ours, cfg)), cfg, x, next_q_and_gate,
                               zero_centred=False).numpy(), logits_ours.numpy())
        check(werr > 100 * TOL, f"{name}: the official layout read as Qwen3-Next's is detected (rel {werr:.2e})")
        nerr = rel_err(forward(to_torch(hf), cfg, x, next_q_and_gate).numpy(), logits_ours.numpy())
        check(nerr > 100 * TOL, f"{name}: norms read without the 1 + w are detected (rel {nerr:.2e})")
    elif gw:
        # Negative control: the same rows in a plausible wrong order (all queries, then all gates:
        # Qwen3-Next-like grouping ignored) must be caught, or the comparison above proves nothing.
        wrong = dict(hf)
        for key in [k for k in hf if k.endswith("self_attn.q_proj.weight")]:
            w = hf[key].reshape(cfg["num_key_value_heads"], -1, cfg["hidden_size"])
            qpart, gpart = w[:, : -gw // cfg["num_key_value_heads"]], w[:, -gw // cfg["num_key_value_heads"]:]
            wrong[key] = np.concatenate([qpart.reshape(-1, cfg["hidden_size"]),
                                         gpart.reshape(-1, cfg["hidden_size"])])
        werr = rel_err(forward(to_torch(wrong), cfg, x, official_q_and_gate).numpy(), logits_ours.numpy())
        check(werr > 100 * TOL, f"{name}: a wrongly grouped q_proj is detected (rel {werr:.2e})")
    loss = float(torch.nn.functional.cross_entropy(logits_hf.reshape(-1, logits_hf.shape[-1]), y.reshape(-1)))
    lerr = abs(loss - ev["val_loss"]) / max(abs(loss), 1e-30)
    check(lerr <= TOL, f"{name}: exported model's loss {loss:.6f} == gatedlm eval {ev['val_loss']:.6f} (rel {lerr:.2e})")

    # gatedlm's logits: oracle-dump of the same model (randomised norms), packed here.
    dump = os.path.join(tmp, name, "dump.h5")
    dargs = ["oracle-dump", model_yaml, "--out", dump, "--steps", "0", "--randomize-all"]
    for s in sets:
        dargs += ["--set", s]
    gatedlm(*dargs)
    with h5py.File(dump, "r") as f:
        dparams = {k: f["params"][k][()] for k in f["params"].keys()}
        dinputs = torch.from_numpy(f["batch/inputs"][()].astype(np.int64))
        dlogits = f["forward/logits"][()]
    ref = forward(to_torch(pack_hf(dparams, cfg)), cfg, dinputs, hf_q_and_gate, zero_centred=nxt)
    derr = rel_err(dlogits, ref.numpy())
    check(derr <= TOL, f"{name}: {cfg['model_type']}-layout forward reproduces gatedlm logits (rel {derr:.2e})")

    # export -> import: every tensor bit-identical; re-export byte-identical.
    imported = os.path.join(tmp, name, "imported")
    gatedlm("import", "--hf", out, "--out", imported)
    back = model_h5(os.path.join(imported, "model.h5"))
    check(sorted(back) == sorted(ours), f"{name}: import holds the checkpoint's {len(ours)} tensor names")
    diff = [k for k in ours if k not in back or back[k].shape != ours[k].shape
            or back[k].tobytes() != ours[k].tobytes()]
    check(not diff, f"{name}: every tensor round-trips bit-exactly ({diff[:3]})")
    ev2 = json.loads(gatedlm("eval", "--checkpoint", imported, "--data", shard, "--seq-len", str(T),
                             "--batch-size", str(B), "--batches", str(BATCHES), "--json").stdout.strip().splitlines()[-1])
    check(ev2["val_loss"] == ev["val_loss"], f"{name}: imported checkpoint evaluates identically")
    # Fine-tuning starts from an import: `train --resume` runs (step 0, fresh AdamW and loader).
    rargs = ["train", model_yaml, "--run-dir", os.path.join(tmp, name, "finetune"), "--resume",
             imported, "--set", f"data.train={shard}"]
    for s in sets:
        rargs += ["--set", s]
    proc = gatedlm(*rargs, expect=None)
    check(proc.returncode == 0, f"{name}: train --resume from the import runs (exit {proc.returncode})")
    out2 = os.path.join(tmp, name, "hf2")
    gatedlm("export", "--checkpoint", imported, "--format", "hf", "--out", out2, *layout)
    t2, _ = read_safetensors(os.path.join(out2, "model.safetensors"))
    same_bytes = sorted(t2) == sorted(tensors) and all(
        t2[k][1].tobytes() == tensors[k][1].tobytes() for k in tensors)
    check(same_bytes, f"{name}: re-export of the import has identical tensors")

    # bf16: round-to-nearest-even of the fp32 values.
    out_bf = os.path.join(tmp, name, "hf-bf16")
    gatedlm("export", "--checkpoint", run_dir, "--format", "hf", "--out", out_bf, "--dtype", "bf16", *layout)
    tb, _ = read_safetensors(os.path.join(out_bf, "model.safetensors"))
    cfg_bf = json.load(open(os.path.join(out_bf, "config.json")))
    ok = cfg_bf["torch_dtype"] == "bfloat16" and all(d == "BF16" for d, _ in tb.values())
    ok = ok and all(np.array_equal(tb[k][1], bf16_rne(hf[k])) for k in hf)
    check(ok, f"{name}: bf16 export is the round-to-nearest-even of fp32")
    # An exported bf16 model still reads back (import accepts BF16).
    gatedlm("import", "--hf", out_bf, "--out", os.path.join(tmp, name, "imported-bf16"))


def main():
    if not GATEDLM or not os.path.exists(GATEDLM):
        sys.exit(f"GATEDLM must name the built binary (got {GATEDLM!r})")
    if not SOURCE_DIR:
        sys.exit("GATEDLM_SOURCE_DIR must name the source tree")
    tmp = tempfile.mkdtemp(prefix="gatedlm-hf-")
    shard = os.path.join(tmp, "train.bin")
    tokens = write_shard(shard)
    gate = "model.attention_gate."
    run_case("baseline", [f"{gate}position=none"], tmp, shard, tokens)
    official = ["--layout", "official"]
    run_case("g1-headwise", [f"{gate}position=sdpa", f"{gate}granularity=headwise"], tmp, shard, tokens,
             official)
    run_case("g1-elementwise-untied", [f"{gate}position=sdpa", f"{gate}granularity=elementwise",
                                       "model.tie_word_embeddings=false"], tmp, shard, tokens)
    # Qwen3-MoE: layer 0 dense (mlp_only_layers), layer 1 top-2 of 4 experts, a G1 gate on top.
    moe = "model.moe."
    run_case("moe-g1-headwise", [f"{gate}position=sdpa", f"{gate}granularity=headwise",
                                 f"{moe}num_experts=4", f"{moe}num_experts_per_tok=2",
                                 f"{moe}moe_intermediate_size=32", f"{moe}first_k_dense_replace=1",
                                 f"{moe}router_aux_loss_coef=0.01"], tmp, shard, tokens, official)

    # G1 headwise has no layout stock transformers loads: refused unless --layout official.
    proc = gatedlm("export", "--checkpoint", os.path.join(tmp, "g1-headwise", "run"), "--format", "hf",
                   "--out", os.path.join(tmp, "g1-headwise", "hf-auto"), expect=2)
    msg = proc.stderr.strip()
    check("headwise" in msg and "--layout official" in msg and len(msg.splitlines()) == 1,
          f"G1 headwise export without --layout official refused with exit 2: {msg}")

    # The byte tokenizer as a byte-level tokenizer.json: id b is byte b, no merges.
    tok_out = os.path.join(tmp, "baseline", "hf-tok")
    gatedlm("export", "--checkpoint", os.path.join(tmp, "baseline", "run"), "--format", "hf",
            "--out", tok_out, "--tokenizer", "bytes")
    tj = json.load(open(os.path.join(tok_out, "tokenizer.json")))
    tc = json.load(open(os.path.join(tok_out, "tokenizer_config.json")))
    vocab = tj["model"]["vocab"]
    # GPT-2's bytes_to_unicode, written out here independently of gatedlm's table.
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    spelled, extra = {}, 0
    for byte in range(256):
        spelled[byte] = chr(byte) if byte in printable else chr(256 + extra)
        extra += byte not in printable
    check(tj["model"]["type"] == "BPE" and tj["model"]["merges"] == [] and len(vocab) == 256
          and all(vocab[spelled[b]] == b for b in range(256))
          and tj["pre_tokenizer"]["type"] == "ByteLevel" and tj["decoder"]["type"] == "ByteLevel"
          and tc["tokenizer_class"] == "PreTrainedTokenizerFast",
          "bytes exports as a byte-level tokenizer.json whose id b is byte b")

    # A variant no public modelling code expresses: exit 2, one line naming it.
    run_dir = os.path.join(tmp, "g2", "run")
    gatedlm("train", os.path.join(SOURCE_DIR, "configs", "models", "dense-tiny.yaml"), "--run-dir", run_dir,
            "--set", f"data.train={shard}", "--set", f"train.seq_len={T}", "--set", "train.steps=1",
            "--set", "train.eval_interval=0", "--set", f"{gate}position=value")
    proc = gatedlm("export", "--checkpoint", run_dir, "--format", "hf", "--out", os.path.join(tmp, "g2", "hf"), expect=2)
    msg = proc.stderr.strip()
    check("G2" in msg and "no public" in msg and len(msg.splitlines()) == 1,
          f"G2 export refused with exit 2: {msg}")
    check(not os.path.exists(os.path.join(tmp, "g2", "hf", "model.safetensors")), "G2: nothing written")

    print(f"{'FAILED: ' + str(len(failures)) if failures else 'all passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
