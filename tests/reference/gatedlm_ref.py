#!/usr/bin/python3
"""Independent PyTorch oracle for gatedlm.

The model, the gate variants, the metrics, the LR schedules and the AdamW loop are written here
from the written model description (shared/interfaces.md, Qwen3 semantics, and the gate facts),
not from the C++ code. `check_dump` reads a `gatedlm oracle-dump` HDF5 file, recomputes
everything from its initial weights and tokens in float32, and returns one row per compared
quantity. tests/reference/README.md describes the dump and the tolerances.

Command line (Debian's /usr/bin/python3 has torch):
  gatedlm_ref.py check DUMP.h5 [--steps S]      compare a dump, print every check
  gatedlm_ref.py fake-oracle-dump CONFIG [--set k=v]... --out DUMP.h5 [--steps S]
      [--randomize-all] [--emulate float64|float32-reordered]
                                                a dump written by this reference (self-tests)
  gatedlm_ref.py --self-test                    the harness against fake and broken dumps
"""

import argparse
import copy
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import yaml

# ----------------------------------------------------------------------------------------------
# Configuration: defaults mirror include/gatedlm/config/config.h

DEFAULT_CONFIG = {
    "model": {
        "vocab_size": 256,
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 32,
        "intermediate_size": 384,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "qk_norm": True,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "attention_gate": {
            "position": "none",
            "granularity": "elementwise",
            "sharing": "head_specific",
            "combine": "multiply",
            "activation": "sigmoid",
            "input_dependent": True,
            "qk_gate_point": "post_rope",
            "shared_average": "scores",
        },
        "sdpa_output_transform": "none",
        "moe": None,
        "match_params_of_ungated": False,
    },
    "train": {
        "seed": 1,
        "steps": 100,
        "seq_len": 128,
        "micro_batch_size": 8,
        "grad_accum_steps": 1,
        "precision": "fp32",
        "max_grad_norm": 1.0,
        "log_interval": 10,
        "eval_interval": 100,
        "eval_batches": 4,
        "analyze_interval": 0,
        "sample_interval": 0,
        "sample_prompt": "The",
        "recompute": "none",
        "peak_tflops": 0.0,  # what MFU is reported against; no effect on the math
    },
    "optimizer": {
        "type": "adamw",
        "lr": 3e-3,
        "betas": [0.9, 0.95],
        "eps": 1e-8,
        "weight_decay": 0.1,
        "decay_embeddings": True,
    },
    "scheduler": {"type": "cosine", "warmup_steps": 0, "min_lr": 0.0, "decay_fraction": 0.2},
    "data": {"train": "", "val": "", "tokenizer": "", "bos_token_id": -1},
    "parallel": {"tensor": 1, "expert": 1, "zero": 0},
    "checkpoint": {"interval": 0, "keep_last": 3, "keep_every": 0},
    "stability": {
        "spike_zscore": 0.0,
        "spike_window": 100,
        "on_spike": "none",
        "on_nonfinite": "stop",
    },
}

# Keys whose value is a free-form mapping (or null), not a section with a fixed schema.
FREE_FORM_KEYS = {("model", "rope_scaling"), ("model", "moe")}

# model.moe when it is a mapping (docs/configs.md): these defaults, the given keys over them.
MOE_DEFAULTS = {
    "num_experts": 0,
    "num_experts_per_tok": 0,
    "moe_intermediate_size": 0,
    "num_shared_experts": 0,
    "shared_expert_gate": True,
    "norm_topk_prob": True,
    "router_aux_loss_coef": 0.0,
    "router_z_loss_coef": 0.0,
    "aux_loss_scope": "global_batch",
    "capacity_factor": 0.0,
    "first_k_dense_replace": 0,
    "decoder_sparse_step": 1,
}


def deep_merge(base, override):
    """Returns base with override merged in; mappings merge recursively, the rest replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml_with_bases(path):
    """Reads a gatedlm YAML file, resolving `base:` chains relative to each file."""
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    base = doc.pop("base", None)
    if base is None:
        return doc
    base_path = os.path.join(os.path.dirname(os.path.abspath(path)), base)
    return deep_merge(load_yaml_with_bases(base_path), doc)


def apply_override(config, assignment):
    """Applies one `a.b.c=value` override; the value is parsed as YAML."""
    if "=" not in assignment:
        raise ValueError(f"--set expects key.path=value, got {assignment!r}")
    dotted, text = assignment.split("=", 1)
    keys = dotted.split(".")
    node = config
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = yaml.safe_load(text)


# Sections whose keys can change the numbers: an unknown key there is an error, because the
# oracle would silently ignore it. Unknown keys elsewhere in a dump's config are dropped.
MATH_SECTIONS = ("model", "train", "optimizer", "scheduler")


def check_known_keys(config, schema, where=(), lenient=False):
    for key in list(config):
        value, path = config[key], where + (key,)
        if key not in schema:
            if lenient and path[0] not in MATH_SECTIONS:
                del config[key]
                continue
            raise ValueError(
                f"unknown config key {'.'.join(path)} (if it does not change the math, "
                "add it to DEFAULT_CONFIG in tests/reference/gatedlm_ref.py)"
            )
        if path in FREE_FORM_KEYS:
            continue
        if isinstance(schema[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"config key {'.'.join(path)} must be a mapping")
            check_known_keys(value, schema[key], path, lenient)


def coerce_types(config, schema):
    """PyYAML reads `1e-06` (no dot) as a string: convert values to the default's type."""
    for key, default in schema.items():
        value = config.get(key)
        if isinstance(default, dict) and isinstance(value, dict):
            coerce_types(value, default)
        elif isinstance(value, str) and type(default) in (int, float):
            config[key] = float(value) if isinstance(default, float) else int(value)
        elif isinstance(value, list) and isinstance(default, list):
            config[key] = [float(v) if isinstance(v, str) else v for v in value]


def normalize_config(raw, lenient=False):
    """Fills defaults, checks key names, and returns the config as nested dicts.

    lenient: drop unknown keys outside MATH_SECTIONS (for configs written by the binary).
    """
    raw = copy.deepcopy(raw or {})
    raw.pop("base", None)
    optimizer = raw.get("optimizer") or {}
    if "beta1" in optimizer or "beta2" in optimizer:  # accept the struct's spelling too
        betas = list(optimizer.get("betas", DEFAULT_CONFIG["optimizer"]["betas"]))
        betas[0] = optimizer.pop("beta1", betas[0])
        betas[1] = optimizer.pop("beta2", betas[1])
        optimizer["betas"] = betas
    private = {k: raw.pop(k) for k in list(raw) if k.startswith("_")}
    check_known_keys(raw, DEFAULT_CONFIG, lenient=lenient)
    config = deep_merge(DEFAULT_CONFIG, raw)
    coerce_types(config, DEFAULT_CONFIG)
    moe = config["model"].get("moe")
    if moe:
        unknown = sorted(set(moe) - set(MOE_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown config keys model.moe.{unknown} (add them to MOE_DEFAULTS)")
        moe = dict(MOE_DEFAULTS, **moe)
        coerce_types(moe, MOE_DEFAULTS)
        config["model"]["moe"] = moe
    config.update(private)  # self-test only: deliberate deviations, never written to a dump
    return config


def load_config(path, overrides=(), lenient=False):
    """A gatedlm YAML file with `base:` inheritance and `--set` overrides, defaults filled."""
    config = load_yaml_with_bases(path)
    for assignment in overrides:
        apply_override(config, assignment)
    return normalize_config(config, lenient)


def check_supported(config):
    model = config["model"]
    scaling = model.get("rope_scaling")
    if scaling and str(scaling.get("type", "") or "none") not in ("", "none"):
        raise NotImplementedError("the oracle does not implement rope_scaling yet")
    if config["train"]["precision"] != "fp32":
        raise NotImplementedError("the oracle compares fp32 runs only")
    gate = model["attention_gate"]
    if gate["position"] == "dense" and (
        gate["granularity"] != "elementwise" or gate["sharing"] != "head_specific"
    ):
        raise ValueError("a dense gate is elementwise and head_specific only")
    if gate["combine"] == "add" and gate["activation"] not in ("silu", "identity"):
        raise ValueError("combine add needs activation silu or identity")


# ----------------------------------------------------------------------------------------------
# Parameters


def gate_heads(model):
    """Number of heads at the gate's position (None for dense and no gate)."""
    position = model["attention_gate"]["position"]
    if position in ("sdpa", "query"):
        return model["num_attention_heads"]
    if position in ("key", "value"):
        return model["num_key_value_heads"]
    return None


def gate_param_shape(model):
    """Shape of the gate's parameter: gate_proj.weight or the static gate_logits."""
    gate = model["attention_gate"]
    hidden, head_dim = model["hidden_size"], model["head_dim"]
    if gate["position"] == "dense":
        width_shape = [hidden]
    elif gate["granularity"] == "elementwise":
        width_shape = [gate_heads(model), head_dim]
    else:
        width_shape = [gate_heads(model)]
    if gate["input_dependent"]:
        return [int(np.prod(width_shape)), hidden]
    return width_shape


def param_shapes(config):
    """Ordered {HF name: shape} of every parameter the model has."""
    model = config["model"]
    C, V, I, D = (
        model["hidden_size"],
        model["vocab_size"],
        model["intermediate_size"],
        model["head_dim"],
    )
    H, K = model["num_attention_heads"], model["num_key_value_heads"]
    gate = model["attention_gate"]
    shapes = {"model.embed_tokens.weight": [V, C]}
    for layer in range(model["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes[p + "input_layernorm.weight"] = [C]
        shapes[p + "self_attn.q_proj.weight"] = [H * D, C]
        shapes[p + "self_attn.k_proj.weight"] = [K * D, C]
        shapes[p + "self_attn.v_proj.weight"] = [K * D, C]
        shapes[p + "self_attn.o_proj.weight"] = [C, H * D]
        if model["qk_norm"]:
            shapes[p + "self_attn.q_norm.weight"] = [D]
            shapes[p + "self_attn.k_norm.weight"] = [D]
        if model["sdpa_output_transform"] == "rmsnorm":
            shapes[p + "self_attn.sdpa_norm.weight"] = [D]
        if gate["position"] != "none":
            name = "gate_proj.weight" if gate["input_dependent"] else "gate_logits"
            shapes[p + "self_attn." + name] = gate_param_shape(model)
        shapes[p + "post_attention_layernorm.weight"] = [C]
        moe = model.get("moe")
        if moe and is_moe_layer(moe, layer):
            E, M = moe["num_experts"], moe["moe_intermediate_size"]
            shapes[p + "mlp.gate.weight"] = [E, C]
            for e in range(E):
                shapes[p + f"mlp.experts.{e}.gate_proj.weight"] = [M, C]
                shapes[p + f"mlp.experts.{e}.up_proj.weight"] = [M, C]
                shapes[p + f"mlp.experts.{e}.down_proj.weight"] = [C, M]
            if moe["num_shared_experts"] > 0:
                S = moe["num_shared_experts"] * M
                shapes[p + "mlp.shared_expert.gate_proj.weight"] = [S, C]
                shapes[p + "mlp.shared_expert.up_proj.weight"] = [S, C]
                shapes[p + "mlp.shared_expert.down_proj.weight"] = [C, S]
                if moe["shared_expert_gate"]:
                    shapes[p + "mlp.shared_expert_gate.weight"] = [1, C]
        else:
            shapes[p + "mlp.gate_proj.weight"] = [I, C]
            shapes[p + "mlp.up_proj.weight"] = [I, C]
            shapes[p + "mlp.down_proj.weight"] = [C, I]
    shapes["model.norm.weight"] = [C]
    if not model["tie_word_embeddings"]:
        shapes["lm_head.weight"] = [V, C]
    return shapes


NORM_SUFFIXES = (
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "q_norm.weight",
    "k_norm.weight",
    "sdpa_norm.weight",
)


def is_norm_weight(name):
    return name == "model.norm.weight" or name.endswith(NORM_SUFFIXES)


def decays(name, config):
    """Whether AdamW's decoupled weight decay applies to this parameter."""
    if is_norm_weight(name) or name.endswith("gate_logits"):
        return False
    if name == "model.embed_tokens.weight":
        return bool(config["optimizer"]["decay_embeddings"])
    return True


def init_params(config, dtype=torch.float32, randomize_all=False):
    """A fresh initialisation (only for fake dumps; real checks use the dumped weights).

    randomize_all: norm weights 1 + N(0, 0.1) and static gate logits N(0, 1) instead of the
    constant 1 and 0, so that paths a constant hides are exercised.
    """
    generator = torch.Generator().manual_seed(int(config["train"]["seed"]))
    std = config["model"]["initializer_range"]
    params = {}
    for name, shape in param_shapes(config).items():
        if randomize_all and is_norm_weight(name):
            params[name] = 1 + 0.1 * torch.randn(shape, generator=generator).to(dtype)
        elif randomize_all and name.endswith("gate_logits"):
            params[name] = torch.randn(shape, generator=generator).to(dtype)
        elif is_norm_weight(name):
            params[name] = torch.ones(shape, dtype=dtype)
        elif name.endswith("gate_logits"):
            params[name] = torch.zeros(shape, dtype=dtype)
        else:
            params[name] = torch.randn(shape, generator=generator, dtype=torch.float32).to(dtype)
            params[name].mul_(std)
    return params


# ----------------------------------------------------------------------------------------------
# Model


# The benchmark sets this to use torch's fused attention (torch >= 2.0) where no metrics are
# tapped; the oracle itself always runs the explicit softmax.
USE_FUSED_ATTENTION = False

# Self-tests set this above 1 to emulate another float32 implementation: every matmul then
# sums its inner dimension in this many chunks (a different rounding, the same math).
MATMUL_CHUNKS = 1


def matmul(a, b):
    inner = a.shape[-1]
    if MATMUL_CHUNKS == 1 or inner < 2 * MATMUL_CHUNKS:
        return a @ b
    cuts = [inner * i // MATMUL_CHUNKS for i in range(MATMUL_CHUNKS + 1)]
    parts = [a[..., lo:hi] @ b[..., lo:hi, :] for lo, hi in zip(cuts[:-1], cuts[1:])]
    return sum(parts[1:], parts[0])


def rms_norm(x, weight, eps):
    return weight * (x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))


def rope_tables(seq_len, head_dim, theta, dtype, interleaved=False):
    """cos/sin [T, D] for rotate-half RoPE, computed in float64."""
    half = head_dim // 2
    inv_freq = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv_freq[None, :]
    if interleaved:  # self-test mutation only: the GPT-J pairing (2i, 2i+1)
        angles = angles.repeat_interleave(2, dim=-1)
    else:
        angles = torch.cat([angles, angles], dim=-1)
    return torch.cos(angles).to(dtype), torch.sin(angles).to(dtype)


def apply_rope(x, cos, sin, interleaved=False):
    """x [B, T, n, D]; pairs dims i and i + D/2: x*cos + rotate_half(x)*sin."""
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack([-x2, x1], dim=-1).flatten(-2)
    else:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[None, :, None, :] + rotated * sin[None, :, None, :]


def gate_activation(logits, name):
    if name == "sigmoid":
        return torch.sigmoid(logits)
    if name == "silu":
        return logits * torch.sigmoid(logits)
    if name == "ns_sigmoid":
        return 0.5 + 0.5 * torch.sigmoid(logits)
    if name == "identity":
        return logits
    raise ValueError(f"unknown gate activation {name!r}")


def gate_scores(params, prefix, normed_input, model):
    """The gate score S, broadcastable against the gated tensor.

    Input-dependent: [B, T, n, D|1] ([B, T, C] for dense); static: [n, D|1] ([C] for dense).
    head_shared averages over the head axis (keepdim, so it broadcasts to every head).
    """
    gate = model["attention_gate"]
    batch, seq_len, _ = normed_input.shape
    width = model["head_dim"] if gate["granularity"] == "elementwise" else 1
    if gate["input_dependent"]:
        logits = matmul(normed_input, params[prefix + "self_attn.gate_proj.weight"].t())
        if gate["position"] != "dense":
            logits = logits.reshape(batch, seq_len, gate_heads(model), width)
    else:
        logits = params[prefix + "self_attn.gate_logits"]
        if gate["position"] != "dense":
            logits = logits.reshape(gate_heads(model), width)
    if gate["sharing"] == "head_shared":
        if gate["shared_average"] == "scores":
            return gate_activation(logits, gate["activation"]).mean(dim=-2, keepdim=True)
        if gate["shared_average"] == "logits":
            return gate_activation(logits.mean(dim=-2, keepdim=True), gate["activation"])
        raise ValueError(f"unknown shared_average {gate['shared_average']!r}")
    return gate_activation(logits, gate["activation"])


def apply_gate(tensor, scores, combine):
    if combine == "multiply":
        return tensor * scores
    if combine == "add":
        return tensor + scores
    raise ValueError(f"unknown gate combine {combine!r}")


def attention(params, prefix, x, config, rope, taps=None):
    """Self-attention with the configured gate. x: normed input [B, T, C] -> [B, T, C]."""
    model = config["model"]
    gate = model["attention_gate"]
    position, combine = gate["position"], gate["combine"]
    batch, seq_len, _ = x.shape
    H, K, D = model["num_attention_heads"], model["num_key_value_heads"], model["head_dim"]
    eps = model["rms_norm_eps"]
    interleaved = config.get("_rope") == "interleaved"
    attn = prefix + "self_attn."

    q = matmul(x, params[attn + "q_proj.weight"].t()).reshape(batch, seq_len, H, D)
    k = matmul(x, params[attn + "k_proj.weight"].t()).reshape(batch, seq_len, K, D)
    v = matmul(x, params[attn + "v_proj.weight"].t()).reshape(batch, seq_len, K, D)

    scores = gate_scores(params, prefix, x, model) if position != "none" else None
    pre_norm = gate["qk_gate_point"] == "pre_norm"
    if position == "value":
        v = apply_gate(v, scores, combine)
    if position == "query" and pre_norm:
        q = apply_gate(q, scores, combine)
    if position == "key" and pre_norm:
        k = apply_gate(k, scores, combine)
    if model["qk_norm"]:
        q = rms_norm(q, params[attn + "q_norm.weight"], eps)
        k = rms_norm(k, params[attn + "k_norm.weight"], eps)
    q = apply_rope(q, *rope, interleaved=interleaved)
    k = apply_rope(k, *rope, interleaved=interleaved)
    if position == "query" and not pre_norm:
        q = apply_gate(q, scores, combine)
    if position == "key" and not pre_norm:
        k = apply_gate(k, scores, combine)

    # GQA: query head h reads KV head h // (H / K).
    group = H // K
    if config.get("_gqa") == "modulo":  # self-test mutation only
        kv_index = torch.arange(H) % K
    else:
        kv_index = torch.arange(H) // group
    k_heads = k[:, :, kv_index].transpose(1, 2)  # [B, H, T, D]
    v_heads = v[:, :, kv_index].transpose(1, 2)
    q_heads = q.transpose(1, 2)
    fused = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if USE_FUSED_ATTENTION and fused is not None and taps is None:
        out = fused(q_heads, k_heads, v_heads, is_causal=True).transpose(1, 2)
    else:
        logits = matmul(q_heads, k_heads.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=logits.device).tril()
        logits = logits.masked_fill(~causal, float("-inf"))
        probs = torch.softmax(logits, dim=-1)  # [B, H, Tq, Tk]
        out = matmul(probs, v_heads).transpose(1, 2)  # [B, T, H, D]

    transform = model["sdpa_output_transform"]
    if transform == "rmsnorm":
        out = rms_norm(out, params[attn + "sdpa_norm.weight"], eps)
    elif transform == "silu":
        out = out * torch.sigmoid(out)
    elif transform != "none":
        raise ValueError(f"unknown sdpa_output_transform {transform!r}")
    if position == "sdpa":
        out = apply_gate(out, scores, combine)
    out = matmul(out.reshape(batch, seq_len, H * D), params[attn + "o_proj.weight"].t())
    if position == "dense":
        out = apply_gate(out, scores, combine)

    if taps is not None:
        taps["first_token_attn"] = probs[:, :, 1:, 0].mean()
        if scores is not None:
            taps["gate_score"] = scores.mean()
            taps["gate_sparsity"] = (scores < 0.1).to(scores.dtype).mean()
            taps["gate_ambiguous"] = (scores - 0.1).abs().le(1e-5).to(scores.dtype).mean()
    return out


def mlp(params, prefix, x):
    gate = matmul(x, params[prefix + "gate_proj.weight"].t())
    up = matmul(x, params[prefix + "up_proj.weight"].t())
    return matmul(gate * torch.sigmoid(gate) * up, params[prefix + "down_proj.weight"].t())


def is_moe_layer(moe, layer):
    """Hugging Face Qwen2/3-MoE placement: after the first k dense layers, every step-th."""
    return layer >= moe["first_k_dense_replace"] and (layer + 1) % moe["decoder_sparse_step"] == 0


# Routing closer than this (log-probability gap between the k-th and (k+1)-th expert) could be
# decided differently by two float32 codes: such a case is rejected, never compared.
MIN_ROUTING_MARGIN = 1e-4


def moe_block(params, prefix, x, moe, router_taps):
    """Mixture of experts (docs/moe.md). x: [B, T, C]. Appends the router's tensors to router_taps:
    probs [N, E] (differentiable), lse [N] (differentiable), counts [E] (before dropping),
    dropped (int) and margin (smallest top-k log-probability gap)."""
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    N = x.shape[0]
    E, k = moe["num_experts"], moe["num_experts_per_tok"]
    logits = matmul(x, params[prefix + "mlp.gate.weight"].t())
    probs = torch.softmax(logits, dim=-1)
    lse = torch.logsumexp(logits, dim=-1)
    top_probs, top_experts = probs.topk(k, dim=-1)
    weights = top_probs / top_probs.sum(dim=-1, keepdim=True) if moe["norm_topk_prob"] else top_probs
    sorted_probs = probs.detach().sort(dim=-1, descending=True).values
    margin = math.inf
    if k < E:
        margin = float((sorted_probs[:, k - 1].log() - sorted_probs[:, k].log()).min())
    # Capacity: each expert keeps its earliest tokens (lowest row), drops the rest.
    keep = torch.ones(N, k, dtype=torch.bool)
    if moe["capacity_factor"] > 0:
        capacity = math.ceil(moe["capacity_factor"] * N * k / E)
        for e in range(E):
            rows, slots = (top_experts == e).nonzero(as_tuple=True)  # row-major: rows ascending
            keep[rows[capacity:], slots[capacity:]] = False
    out = torch.zeros_like(x)
    for e in range(E):
        rows, slots = ((top_experts == e) & keep).nonzero(as_tuple=True)
        if rows.numel() == 0:
            continue
        y = mlp(params, prefix + f"mlp.experts.{e}.", x[rows])
        out = out.index_add(0, rows, y * weights[rows, slots].unsqueeze(-1))
    if moe["num_shared_experts"] > 0:
        shared = mlp(params, prefix + "mlp.shared_expert.", x)
        if moe["shared_expert_gate"]:
            gate_logit = matmul(x, params[prefix + "mlp.shared_expert_gate.weight"].t())
            shared = torch.sigmoid(gate_logit) * shared
        out = out + shared
    router_taps.append(
        {
            "probs": probs,
            "lse": lse,
            "counts": torch.bincount(top_experts.flatten(), minlength=E).double(),
            "dropped": int((~keep).sum()),
            "margin": margin,
        }
    )
    return out.reshape(shape)


def router_losses(router_taps, moe, running=None):
    """(objective, aux [L], z [L]) of one forward's MoE layers (docs/moe.md).

    aux_l = E * sum_e f_e * mean_t probs[t, e]; f_e = counts_e / assignments, a constant, over the
    micro-batch (running=None) or over every micro-batch of the step so far (running: a list of
    [counts, assignments] per layer, updated here). z_l = mean_t lse_t^2.
    objective = aux_coef * mean_l aux_l + z_coef * mean_l z_l.
    """
    E, k = moe["num_experts"], moe["num_experts_per_tok"]
    aux, z = [], []
    for l, taps in enumerate(router_taps):
        counts, assignments = taps["counts"], float(taps["probs"].shape[0] * k)
        if running is not None:
            running[l][0] = running[l][0] + counts
            running[l][1] += assignments
            counts, assignments = running[l]
        frequency = (counts / assignments).to(taps["probs"].dtype)
        aux.append(E * (frequency * taps["probs"].mean(dim=0)).sum())
        z.append(taps["lse"].pow(2).mean())
    aux, z = torch.stack(aux), torch.stack(z)
    objective = moe["router_aux_loss_coef"] * aux.mean() + moe["router_z_loss_coef"] * z.mean()
    return objective, aux, z


def new_running_counts(config):
    """Running global-batch counts for one optimizer step, or None for the micro_batch scope."""
    moe = config["model"].get("moe")
    if not moe or moe["aux_loss_scope"] != "global_batch":
        return None
    layers = [l for l in range(config["model"]["num_hidden_layers"]) if is_moe_layer(moe, l)]
    return [[torch.zeros(moe["num_experts"], dtype=torch.float64), 0.0] for _ in layers]


def forward(params, config, inputs, targets, collect=False, router_taps_out=None):
    """Returns (logits [B, T, V], mean cross-entropy loss, metrics or None).

    router_taps_out: a list that receives one moe_block tap dict per MoE layer.

    metrics (collect=True): per-layer tensors first_token_attn [L], max_act [L, 4]
    (attn_output, attn_residual, ffn_output, ffn_residual) and, with a gate, gate_score [L],
    gate_sparsity [L] and gate_ambiguous [L] (share of scores within 1e-5 of the threshold).
    """
    model = config["model"]
    eps = model["rms_norm_eps"]
    dtype = params["model.embed_tokens.weight"].dtype
    rope = tuple(
        table.to(inputs.device)
        for table in rope_tables(
            inputs.shape[1],
            model["head_dim"],
            float(model["rope_theta"]),
            dtype,
            interleaved=config.get("_rope") == "interleaved",
        )
    )
    x = params["model.embed_tokens.weight"][inputs]
    layer_taps, router_taps = [], []
    for layer in range(model["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        taps = {} if collect else None
        normed = rms_norm(x, params[prefix + "input_layernorm.weight"], eps)
        attn_out = attention(params, prefix, normed, config, rope, taps)
        x = x + attn_out
        attn_residual = x
        normed = rms_norm(x, params[prefix + "post_attention_layernorm.weight"], eps)
        moe = model.get("moe")
        if moe and is_moe_layer(moe, layer):
            ffn_out = moe_block(params, prefix, normed, moe, router_taps)
        else:
            ffn_out = mlp(params, prefix + "mlp.", normed)
        x = x + ffn_out
        if collect:
            taps["max_act"] = torch.stack(
                [t.detach().abs().max() for t in (attn_out, attn_residual, ffn_out, x)]
            )
            layer_taps.append(taps)
    x = rms_norm(x, params["model.norm.weight"], eps)
    head = params["model.embed_tokens.weight" if model["tie_word_embeddings"] else "lm_head.weight"]
    logits = matmul(x, head.t())
    log_probs = torch.log_softmax(logits, dim=-1)
    loss = -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    if router_taps_out is not None:
        router_taps_out.extend(router_taps)
    metrics = None
    if collect:
        metrics = {
            key: torch.stack([t[key].detach() for t in layer_taps])
            for key in layer_taps[0]
        }
    return logits, loss, metrics


# ----------------------------------------------------------------------------------------------
# Schedule and optimizer


def learning_rate(step, config):
    """LR at 0-based `step` of train.steps total steps, computed in float64."""
    sched, opt = config["scheduler"], config["optimizer"]
    total, warmup = int(config["train"]["steps"]), int(sched["warmup_steps"])
    peak, low = float(opt["lr"]), float(sched["min_lr"])
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    kind = sched["type"]
    if kind == "cosine":
        return low + (peak - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "linear":
        return peak + (low - peak) * progress
    if kind == "constant":
        return peak
    if kind == "wsd":
        decay = max(1, math.floor(float(sched["decay_fraction"]) * (total - warmup)))
        if step < total - decay:
            return peak
        return peak + (low - peak) * (step - (total - decay) + 1) / decay
    raise ValueError(f"unknown scheduler type {kind!r}")


def leaf_params(params, dtype):
    return {
        name: torch.tensor(np.asarray(value), dtype=dtype).requires_grad_(True)
        for name, value in params.items()
    }


def gradients(params, config, inputs, targets, running=None):
    """(loss, logits, {name: grad}) of one micro-batch; the grads include the router losses."""
    router_taps = []
    logits, loss, _ = forward(params, config, inputs, targets, router_taps_out=router_taps)
    objective = loss
    if router_taps:
        objective = loss + router_losses(router_taps, config["model"]["moe"], running)[0]
    names = list(params)
    grads = torch.autograd.grad(objective, [params[n] for n in names], allow_unused=True)
    grads = {
        n: (g if g is not None else torch.zeros_like(params[n])) for n, g in zip(names, grads)
    }
    return loss.detach(), logits.detach(), grads


def train_steps(initial, config, step_inputs, step_targets, dtype=torch.float32):
    """Runs the dumped optimizer steps. step_inputs/targets: int [S, A, B, T].

    Returns {"loss": [S], "lr": [S], "grad_norm": [S], "final": {name: array}}.
    """
    params = leaf_params(initial, dtype)
    opt_cfg = config["optimizer"]
    if opt_cfg["type"] != "adamw":
        raise NotImplementedError(f"optimizer {opt_cfg['type']!r}")
    decay_group = [p for n, p in params.items() if decays(n, config)]
    plain_group = [p for n, p in params.items() if not decays(n, config)]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay_group, "weight_decay": float(opt_cfg["weight_decay"])},
            {"params": plain_group, "weight_decay": 0.0},
        ],
        lr=float(opt_cfg["lr"]),
        betas=tuple(float(b) for b in opt_cfg["betas"]),
        eps=float(opt_cfg["eps"]),
    )
    max_norm = float(config["train"]["max_grad_norm"])
    losses, lrs, norms = [], [], []
    num_steps, accum = step_inputs.shape[0], step_inputs.shape[1]
    for step in range(num_steps):
        total = {n: torch.zeros_like(p) for n, p in params.items()}
        step_loss = 0.0
        running = new_running_counts(config)
        for micro in range(accum):
            inputs = torch.as_tensor(step_inputs[step, micro], dtype=torch.long)
            targets = torch.as_tensor(step_targets[step, micro], dtype=torch.long)
            loss, _, grads = gradients(params, config, inputs, targets, running)
            step_loss += float(loss)
            for n in total:
                total[n] += grads[n]
        norm_sq = 0.0
        for n in total:
            total[n] /= accum
            norm_sq += float(total[n].double().pow(2).sum())
        norm = math.sqrt(norm_sq)
        if max_norm > 0:
            coef = max_norm / (norm + 1e-6)
            if coef < 1.0:
                for g in total.values():
                    g.mul_(coef)
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for n, p in params.items():
            p.grad = total[n]
        optimizer.step()
        losses.append(step_loss / accum)
        lrs.append(lr)
        norms.append(norm)
    return {
        "loss": np.array(losses),
        "lr": np.array(lrs),
        "grad_norm": np.array(norms),
        "final": {n: p.detach().numpy().copy() for n, p in params.items()},
    }


def recompute(
    config, initial, inputs, targets, step_inputs=None, step_targets=None, dtype=torch.float32
):
    """Everything a dump holds, recomputed from the initial params and the tokens."""
    params = leaf_params(initial, dtype)
    inputs_t = torch.as_tensor(np.asarray(inputs), dtype=torch.long)
    targets_t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    router_taps = []
    logits, loss, metrics = forward(
        params, config, inputs_t, targets_t, collect=True, router_taps_out=router_taps
    )
    objective = loss
    names = list(params)
    moe_result = None
    if router_taps:
        router_objective, aux, z = router_losses(router_taps, config["model"]["moe"])
        objective = loss + router_objective
        moe_result = {
            "aux_loss": aux.detach().numpy(),
            "z_loss": z.detach().numpy(),
            "router_loss": float(router_objective),
            "tokens_per_expert": torch.stack([t["counts"] for t in router_taps]).numpy(),
            "dropped": np.array([t["dropped"] for t in router_taps], dtype=np.float64),
            "margin": min(t["margin"] for t in router_taps),
        }
    grads = torch.autograd.grad(objective, [params[n] for n in names], allow_unused=True)
    result = {
        "moe": moe_result,
        "logits": logits.detach().numpy(),
        "loss": float(loss),
        "grads": {
            n: (g.numpy() if g is not None else np.zeros(params[n].shape))
            for n, g in zip(names, grads)
        },
        "analysis": {k: v.numpy() for k, v in metrics.items()},
    }
    if step_inputs is not None:
        result["steps"] = train_steps(
            initial, config, np.asarray(step_inputs), np.asarray(step_targets), dtype
        )
    return result


# ----------------------------------------------------------------------------------------------
# Dumps and comparison


def relative_error(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        if actual.size == expected.size == 1:
            actual, expected = actual.reshape(()), expected.reshape(())
        else:
            return math.inf
    if not np.all(np.isfinite(actual)):
        return math.inf
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))


class Row:
    """One compared quantity: `error` against `tolerance` (relative unless `kind` says)."""

    def __init__(self, name, error, tolerance, kind="rel", note="", ok=True):
        self.name, self.error, self.tolerance = name, error, tolerance
        self.kind, self.note = kind, note
        self.ok = ok and error is not None and error <= tolerance

    def __str__(self):
        error = "missing" if self.error is None else f"{self.error:.3e}"
        status = "ok" if self.ok else "FAIL"
        note = f"  {self.note}" if self.note else ""
        return f"  {status:4} {self.kind:4} {error:>10} <= {self.tolerance:.0e}  {self.name}{note}"


DEFAULT_TOLERANCES = {
    "forward": 1e-4,  # logits and loss
    "grads": 1e-4,
    "analysis": 1e-4,
    "step_loss": 1e-4,
    "grad_norm": 1e-4,
    "lr_abs": 1e-7,
    "lr_rel": 1e-6,
    "final": 1e-4,
}


def read_dump(path):
    """The dump as nested numpy values; config_yaml parsed and normalised."""
    with h5py.File(path, "r") as f:
        text = f.attrs["config_yaml"]
        if isinstance(text, bytes):
            text = text.decode()
        dump = {"config_yaml": str(text)}
        for group in ("params", "grads", "final", "batch", "forward", "analysis", "steps"):
            if group in f:
                dump[group] = {name: f[group][name][()] for name in f[group]}
    dump["config"] = normalize_config(yaml.safe_load(dump["config_yaml"]), lenient=True)
    return dump


def check_dump(path, tolerances=None, expected_steps=None):
    """Recomputes a dump with the reference and returns the list of Rows."""
    tol = dict(DEFAULT_TOLERANCES, **(tolerances or {}))
    dump = read_dump(path)
    config = dump["config"]
    check_supported(config)
    rows = []
    model = config["model"]
    gated = model["attention_gate"]["position"] != "none"

    # Structure: the parameter set and shapes follow from the config.
    shapes = param_shapes(config)
    params = dump.get("params", {})
    missing = sorted(set(shapes) - set(params))
    extra = sorted(set(params) - set(shapes))
    wrong = sorted(n for n in shapes if n in params and list(params[n].shape) != shapes[n])
    note = ""
    if missing or extra or wrong:
        note = f"missing {missing} extra {extra} wrong shape {wrong}"
    rows.append(Row("structure/params", 0.0 if not note else math.inf, 0.0, "set", note))
    if note:
        return rows

    inputs, targets = dump["batch"]["inputs"], dump["batch"]["targets"]
    for name, tokens in (("batch/inputs", inputs), ("batch/targets", targets)):
        bad = tokens.ndim != 2 or tokens.min() < 0 or tokens.max() >= model["vocab_size"]
        note = f"shape {tokens.shape}"
        rows.append(Row("structure/" + name, math.inf if bad else 0.0, 0.0, "set", note))
    steps = dump.get("steps")
    if steps is not None:
        train = config["train"]
        shape = tuple(steps["inputs"].shape)
        want = (train["grad_accum_steps"], train["micro_batch_size"], train["seq_len"])
        bad = len(shape) != 4 or shape[1:] != want or steps["targets"].shape != shape
        if expected_steps is not None and shape[0] != expected_steps:
            bad = True
        note = f"shape {shape}, want [S,{want}]"
        rows.append(Row("structure/steps", math.inf if bad else 0.0, 0.0, "set", note))
    elif expected_steps:
        rows.append(Row("structure/steps", None, 0.0, "set", "no steps group"))
    has_gate_metrics = "gate_score" in dump.get("analysis", {})
    rows.append(
        Row(
            "structure/analysis gate datasets",
            0.0 if has_gate_metrics == gated else math.inf,
            0.0,
            "set",
            f"present={has_gate_metrics}, gate={gated}",
        )
    )
    if any(not r.ok for r in rows):
        return rows

    ref = recompute(
        config,
        params,
        inputs,
        targets,
        steps["inputs"] if steps is not None else None,
        steps["targets"] if steps is not None else None,
    )

    def compare(name, got, want, tolerance):
        rows.append(Row(name, None if got is None else relative_error(got, want), tolerance))

    fwd = dump.get("forward", {})
    compare("forward/logits", fwd.get("logits"), ref["logits"], tol["forward"])
    compare("forward/loss", fwd.get("loss"), ref["loss"], tol["forward"])
    if ref["moe"] is not None:
        moe_ref = ref["moe"]
        # Routing within MIN_ROUTING_MARGIN of a tie could go either way in float32: such a
        # case is invalid, not compared (choose another seed).
        rows.append(
            Row(
                "structure/routing margin",
                0.0 if moe_ref["margin"] >= MIN_ROUTING_MARGIN else math.inf,
                0.0,
                "set",
                f"smallest top-k log-probability gap {moe_ref['margin']:.2e}",
            )
        )
        for key in ("router_loss", "aux_loss", "z_loss"):
            compare("forward/" + key, fwd.get(key), moe_ref[key], tol["forward"])
        for key in ("tokens_per_expert", "dropped"):  # counts: exact
            got = fwd.get(key)
            err = None
            if got is not None:
                err = math.inf
                if np.size(got) == np.size(moe_ref[key]):
                    err = float(np.max(np.abs(np.reshape(got, moe_ref[key].shape) - moe_ref[key])))
            rows.append(Row("forward/" + key, err, 0.0, "abs"))
    elif any(k in fwd for k in ("router_loss", "aux_loss", "z_loss", "tokens_per_expert")):
        rows.append(Row("structure/moe datasets", math.inf, 0.0, "set", "dense model"))
    grads = dump.get("grads", {})
    for name in shapes:
        compare("grads/" + name, grads.get(name), ref["grads"][name], tol["grads"])

    analysis, ref_analysis = dump.get("analysis", {}), ref["analysis"]
    compare(
        "analysis/first_token_attn",
        analysis.get("first_token_attn"),
        ref_analysis["first_token_attn"],
        tol["analysis"],
    )
    columns = ("attn_output", "attn_residual", "ffn_output", "ffn_residual")
    got = analysis.get("max_act")
    if got is not None and (got.ndim != 2 or got.shape[1] != 4):
        got = np.full((1, 4), np.nan)  # wrong layout: fails below
    for col, label in enumerate(columns):
        compare(
            f"analysis/max_act[{label}]",
            None if got is None else got[:, col],
            ref_analysis["max_act"][:, col],
            tol["analysis"],
        )
    if gated:
        compare(
            "analysis/gate_score",
            analysis.get("gate_score"),
            ref_analysis["gate_score"],
            tol["analysis"],
        )
        # A count of scores below 0.1: it may differ by the share of scores that sit within
        # 1e-5 of the threshold, where float rounding decides the side; 1e-6 absorbs the float32
        # rounding of the ratio (one score is 1/(B*T*width), far more).
        got = analysis.get("gate_sparsity")
        want = ref_analysis["gate_sparsity"]
        slack = ref_analysis["gate_ambiguous"]
        err, note = None, ""
        if got is not None:
            err = math.inf
            if np.size(got) == want.size:
                got = np.asarray(got, dtype=np.float64).reshape(want.shape)
                err = max(0.0, float(np.max(np.abs(got - want) - slack)))
            note = f"values {np.round(want, 4).tolist()}"
        rows.append(Row("analysis/gate_sparsity", err, 1e-6, "abs", note))

    if steps is not None:
        ref_steps = ref["steps"]
        count = len(ref_steps["loss"])
        for key, label in (("loss", "step_loss"), ("grad_norm", "grad_norm")):
            got = steps.get(key)
            for s in range(count):
                err = None
                if got is not None and len(got) == count:
                    err = relative_error(got[s], ref_steps[key][s])
                rows.append(Row(f"steps/{key}[{s}]", err, tol[label]))
        got = steps.get("lr")
        for s in range(count):
            want = ref_steps["lr"][s]
            if got is None or len(got) != count:
                rows.append(Row(f"steps/lr[{s}]", None, tol["lr_abs"], "abs"))
                continue
            diff = abs(float(got[s]) - want)
            ok_rel = diff <= tol["lr_rel"] * abs(want)
            note = f"lr {want:.6e}"
            if not ok_rel:
                note += f", relative error over {tol['lr_rel']:.0e}"
            rows.append(Row(f"steps/lr[{s}]", diff, tol["lr_abs"], "abs", note, ok=ok_rel))
        final = dump.get("final", {})
        for name in shapes:
            compare("final/" + name, final.get(name), ref_steps["final"][name], tol["final"])
    return rows


def print_rows(title, rows, verbose=True):
    failed = [r for r in rows if not r.ok]
    print(f"== {title}: {len(rows) - len(failed)}/{len(rows)} ok")
    for row in rows if verbose else failed:
        print(row)
    finite = [r.error for r in rows if r.kind == "rel" and r.error is not None]
    finite = [e for e in finite if math.isfinite(e)]
    if finite:
        print(f"  worst relative error {max(finite):.3e}")
    sys.stdout.flush()
    return not failed


# ----------------------------------------------------------------------------------------------
# Driving the gatedlm binary (used by test_parity_*.py)


class HarnessError(Exception):
    """The binary is missing, failed, or wrote no dump: the test fails, it never skips."""


def source_dir():
    return os.environ.get("GATEDLM_SOURCE_DIR") or os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )


def run_oracle_dump(config_path, overrides, steps, workdir):
    """Runs `$GATEDLM oracle-dump CONFIG --set k=v... --out DUMP.h5 --steps S` in workdir.

    overrides: "key.path=value" items become --set options; items starting with "--" (such as
    --randomize-all) are passed through as they are.
    """
    binary = os.environ.get("GATEDLM")
    if not binary:
        raise HarnessError("GATEDLM is not set: point it at the gatedlm binary (ctest sets it)")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise HarnessError(f"GATEDLM={binary} is not an executable file")
    out = os.path.join(workdir, "dump.h5")
    command = [binary, "oracle-dump", config_path]
    for item in overrides:
        command += [item] if item.startswith("--") else ["--set", item]
    command += ["--out", out, "--steps", str(steps)]
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"timed out after 600 s: {' '.join(command)}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-2000:]
        raise HarnessError(f"exit {done.returncode}: {' '.join(command)}\n{tail}")
    if not os.path.isfile(out):
        raise HarnessError(f"no dump written: {' '.join(command)}")
    return out


def values_equal(actual, expected):
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return abs(actual - expected) <= 1e-12 * max(abs(expected), 1e-300)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(map(values_equal, actual, expected))
    return actual == expected


def override_rows(dump_path, overrides):
    """One row per --set: the dumped (resolved) config must hold the value asked for."""
    dump = read_dump(dump_path)
    rows = []
    last = {a.split("=", 1)[0]: a for a in overrides if not a.startswith("--")}  # later wins
    for assignment in last.values():
        dotted, _ = assignment.split("=", 1)
        wanted = {}
        apply_override(wanted, assignment)
        wanted = normalize_config(wanted)
        node_want, node_got = wanted, dump["config"]
        for key in dotted.split("."):
            node_want = node_want[key]
            node_got = node_got.get(key) if isinstance(node_got, dict) else None
        ok = values_equal(node_got, node_want)
        note = "" if ok else f"dump has {node_got!r}, asked {node_want!r}"
        rows.append(Row("config/" + dotted, 0.0 if ok else math.inf, 0.0, "set", note))
    return rows


def randomized_rows(dump_path):
    """With --randomize-all, norm weights and static gate logits must not be constant."""
    with h5py.File(dump_path, "r") as f:
        names = [n for n in f["params"] if is_norm_weight(n) or n.endswith("gate_logits")]
        constant = [n for n in names if np.ptp(f["params"][n][()]) == 0]
    note = f"constant: {constant}" if constant else ""
    name = "structure/randomized norms and static gates"
    return [Row(name, math.inf if constant else 0.0, 0.0, "set", note)]


SUMMARY_GROUPS = [
    ("struct", ("structure/", "config/")),
    ("logits", ("forward/logits",)),
    ("loss", ("forward/loss",)),
    ("grads", ("grads/",)),
    ("analysis", ("analysis/",)),
    ("step_loss", ("steps/loss",)),
    ("lr_abs", ("steps/lr",)),
    ("grad_norm", ("steps/grad_norm",)),
    ("final", ("final/",)),
]


def summary_cells(rows):
    """Worst error per group: '-' none, 'ok'/'FAIL' for set checks, 'miss' when absent."""
    cells = []
    for label, prefixes in SUMMARY_GROUPS:
        group = [r for r in rows if r.name.startswith(prefixes)]
        if not group:
            cells.append("-")
        elif any(r.error is None for r in group):
            cells.append("miss")
        elif label == "struct":
            cells.append("ok" if all(r.ok for r in group) else "FAIL")
        else:
            worst = max(r.error for r in group if r.kind != "set")
            cells.append(f"{worst:.1e}" + ("" if all(r.ok for r in group) else "!"))
    return cells


def run_parity_cases(
    title, cases, steps, verbose=False, config_rel="configs/models/dense-tiny.yaml"
):
    """Runs every case through the binary and the oracle; prints a table; returns exit code.

    cases: list of (name, overrides) or (name, None, reason) for a case skipped with a note.
    """
    torch.set_num_threads(1)  # tiny tensors: more threads only contend (ctest runs in parallel)
    if not os.environ.get("GATEDLM"):
        print(f"FAIL {title}: GATEDLM is not set: point it at the gatedlm binary (ctest sets it)")
        return 1
    config_path = os.path.join(source_dir(), config_rel)
    header = f"{'case':44} " + " ".join(f"{label:>9}" for label, _ in SUMMARY_GROUPS) + "  result"
    lines, failures, skipped, passed = [header, "-" * len(header)], [], [], 0
    for case in cases:
        name, overrides = case[0], case[1]
        if overrides is None:
            skipped.append(f"{name}: {case[2]}")
            lines.append(f"{name:44} " + " ".join(f"{'':>9}" for _ in SUMMARY_GROUPS) + "  SKIPPED")
            continue
        with tempfile.TemporaryDirectory(prefix="gatedlm-oracle-") as workdir:
            try:
                dump = run_oracle_dump(config_path, overrides, steps, workdir)
                rows = override_rows(dump, overrides) + check_dump(dump, expected_steps=steps)
                if "--randomize-all" in overrides:
                    rows += randomized_rows(dump)
            except HarnessError as error:
                failures.append(f"{name}: {error}")
                lines.append(f"{name:44} binary failed")
                print(f"FAIL {name}: {error}", flush=True)
                continue
            except Exception as error:  # a malformed dump must fail the test, not crash it
                failures.append(f"{name}: {type(error).__name__}: {error}")
                lines.append(f"{name:44} oracle error")
                print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
                continue
        bad = [r for r in rows if not r.ok]
        status = "ok" if not bad else f"FAIL ({len(bad)})"
        cells = " ".join(f"{c:>9}" for c in summary_cells(rows))
        lines.append(f"{name:44} {cells}  {status}")
        print(f"-- {name}: {len(rows) - len(bad)}/{len(rows)} checks ok", flush=True)
        for row in rows if verbose else bad:
            print(row)
        if bad:
            failures.append(f"{name}: {len(bad)} checks failed, first {bad[0].name}")
        else:
            passed += 1
    print(f"\n== {title}: worst error per group (relative; lr absolute; '!' = over tolerance)")
    print("\n".join(lines))
    for note in skipped:
        print(f"SKIPPED (not counted as passed) {note}")
    for failure in failures:
        print(f"FAILED {failure}")
    counts = f"{passed} passed, {len(failures)} failed, {len(skipped)} skipped"
    print(f"== {title}: {counts}", flush=True)
    return 1 if failures or passed == 0 else 0


EMULATIONS = ("float64", "float32-reordered")


def write_dump(path, config, num_steps, emulate="float64", randomize_all=False):
    """A dump in gatedlm's oracle-dump layout, produced by this reference (for self-tests).

    From a seeded init and seeded random tokens. emulate: "float64" computes in double, so the
    dump differs from the float32 check by float32 rounding only; "float32-reordered" computes
    in float32 with every matmul summed in 3 chunks, like another float32 implementation.
    """
    global MATMUL_CHUNKS
    if emulate not in EMULATIONS:
        raise ValueError(f"emulate must be one of {EMULATIONS}")
    dtype = torch.float64 if emulate == "float64" else torch.float32
    check_supported(config)
    train = config["train"]
    initial = init_params(config, randomize_all=randomize_all)
    params = {name: value.float().numpy() for name, value in initial.items()}
    generator = torch.Generator().manual_seed(int(train["seed"]) + 7)
    V, B, T, A = (
        config["model"]["vocab_size"],
        train["micro_batch_size"],
        train["seq_len"],
        train["grad_accum_steps"],
    )
    inputs = torch.randint(V, (B, T), generator=generator).numpy().astype(np.int32)
    targets = torch.randint(V, (B, T), generator=generator).numpy().astype(np.int32)
    step_inputs = step_targets = None
    if num_steps > 0:
        shape = (num_steps, A, B, T)
        step_inputs = torch.randint(V, shape, generator=generator).numpy().astype(np.int32)
        step_targets = torch.randint(V, shape, generator=generator).numpy().astype(np.int32)
    MATMUL_CHUNKS = 1 if emulate == "float64" else 3
    try:
        ref = recompute(config, params, inputs, targets, step_inputs, step_targets, dtype)
    finally:
        MATMUL_CHUNKS = 1
    public = {k: v for k, v in config.items() if not k.startswith("_")}
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    with h5py.File(path, "w") as f:
        f.attrs["config_yaml"] = yaml.safe_dump(public, sort_keys=False)
        for name, value in params.items():
            f[f"params/{name}"] = f32(value)
            f[f"grads/{name}"] = f32(ref["grads"][name])
        f["batch/inputs"], f["batch/targets"] = inputs, targets
        f["forward/logits"] = f32(ref["logits"])
        f["forward/loss"] = np.float32(ref["loss"])
        if ref["moe"] is not None:
            for key in ("router_loss", "aux_loss", "z_loss", "tokens_per_expert", "dropped"):
                f[f"forward/{key}"] = f32(ref["moe"][key])
        if num_steps > 0:
            f["steps/inputs"], f["steps/targets"] = step_inputs, step_targets
            for key in ("loss", "lr", "grad_norm"):
                f[f"steps/{key}"] = f32(ref["steps"][key])
            for name, value in ref["steps"]["final"].items():
                f[f"final/{name}"] = f32(value)
        metrics = ref["analysis"]
        for key in ("first_token_attn", "max_act", "gate_score", "gate_sparsity"):
            if key in metrics:
                f[f"analysis/{key}"] = f32(metrics[key])


# ----------------------------------------------------------------------------------------------
# Self-test: fake dumps (float64 reference) checked by the float32 reference


SELF_TEST_TRAIN = [
    "train.seq_len=16",
    "train.micro_batch_size=3",
    "train.steps=10",
    "train.grad_accum_steps=2",
    "scheduler.warmup_steps=3",
    "train.max_grad_norm=0.5",
    "train.seed=5",
    "optimizer.eps=1e-6",  # see the note in test_parity_dense.py
]

SELF_TEST_CASES = {
    "dense cosine": [],
    "untied, no embedding decay, linear": [
        "model.tie_word_embeddings=false",
        "optimizer.decay_embeddings=false",
        "scheduler.type=linear",
        "scheduler.min_lr=1e-4",
    ],
    "GQA 4/1 wsd": [
        "model.num_attention_heads=4",
        "model.num_key_value_heads=1",
        "scheduler.type=wsd",
        "scheduler.decay_fraction=0.5",
    ],
    "no qk_norm, constant, no clip": [
        "model.qk_norm=false",
        "scheduler.type=constant",
        "train.max_grad_norm=0",
    ],
    "G1 elementwise": ["model.attention_gate.position=sdpa"],
    "G2 headwise shared logits": [
        "model.num_key_value_heads=2",
        "model.attention_gate.position=value",
        "model.attention_gate.granularity=headwise",
        "model.attention_gate.sharing=head_shared",
        "model.attention_gate.shared_average=logits",
    ],
    "G3 pre_norm": [
        "model.attention_gate.position=key",
        "model.attention_gate.qk_gate_point=pre_norm",
    ],
    "G4 post_rope silu": [
        "model.attention_gate.position=query",
        "model.attention_gate.activation=silu",
    ],
    "G5 dense static": [
        "model.attention_gate.position=dense",
        "model.attention_gate.input_dependent=false",
    ],
    "G1 add identity + rmsnorm": [
        "model.attention_gate.position=sdpa",
        "model.attention_gate.combine=add",
        "model.attention_gate.activation=identity",
        "model.sdpa_output_transform=rmsnorm",
    ],
    "G1 static headwise ns_sigmoid, sdpa silu": [
        "model.attention_gate.position=sdpa",
        "model.attention_gate.granularity=headwise",
        "model.attention_gate.input_dependent=false",
        "model.attention_gate.activation=ns_sigmoid",
        "model.sdpa_output_transform=silu",
    ],
}

# (name, overrides of the written config, deviations used only when computing the dump)
SELF_TEST_MUTATIONS = [
    ("rope theta", [], ["model.rope_theta=20000"]),
    ("rope interleaved", [], ["_rope=interleaved"]),
    ("GQA modulo mapping", ["model.num_key_value_heads=2"], ["_gqa=modulo"]),
    ("rms_norm eps", [], ["model.rms_norm_eps=1e-5"]),
    (
        "G4 gate point",
        ["model.attention_gate.position=query"],
        ["model.attention_gate.qk_gate_point=pre_norm"],
    ),
    (
        "shared average",
        ["model.attention_gate.position=sdpa", "model.attention_gate.sharing=head_shared"],
        ["model.attention_gate.shared_average=logits"],
    ),
    (
        "G1 headwise vs G4 headwise",
        ["model.attention_gate.position=sdpa", "model.attention_gate.granularity=headwise"],
        ["model.attention_gate.position=query"],
    ),
    ("embedding decay", [], ["optimizer.decay_embeddings=false"]),
    ("clip off", [], ["train.max_grad_norm=0"]),
    ("total steps", ["train.steps=30"], ["train.steps=31"]),
    ("adam eps", [], ["optimizer.eps=1e-5"]),
]


def self_test_config(base_path, overrides):
    return load_config(base_path, SELF_TEST_TRAIN + overrides)


def corrupt_dump(path, how):
    """Damages a good dump in place (self-test: the check must notice)."""
    with h5py.File(path, "a") as f:
        if how == "one grad off by 1e-3":
            name = "grads/model.layers.0.mlp.up_proj.weight"
            f[name][...] = f[name][()] * np.float32(1.001)
        elif how == "lr off by 1e-6":
            f["steps/lr"][...] = f["steps/lr"][()] + np.float32(1e-6)
        elif how == "final param missing":
            del f["final/model.norm.weight"]
        elif how == "extra gate metric":
            f["analysis/gate_score"] = np.zeros(2, np.float32)
        elif how == "steps without accumulation axis":
            data = f["steps/inputs"][()]
            del f["steps/inputs"]
            f["steps/inputs"] = data[:, 0]
        elif how == "max_act columns swapped":
            data = f["analysis/max_act"][()]
            f["analysis/max_act"][...] = data[:, [1, 0, 2, 3]]
        else:
            raise ValueError(how)


DUMP_CORRUPTIONS = (
    "one grad off by 1e-3",
    "lr off by 1e-6",
    "final param missing",
    "extra gate metric",
    "steps without accumulation axis",
    "max_act columns swapped",
)


def self_test():
    """Fake dumps must pass; mutated and corrupted ones must fail; a missing binary must fail."""
    torch.set_num_threads(1)  # tiny tensors: more threads only contend (ctest runs in parallel)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "model.yaml")
        with open(base, "w") as f:
            yaml.safe_dump({"model": DEFAULT_CONFIG["model"]}, f)
        path = os.path.join(tmp, "dump.h5")
        header = f"{'case':44} " + " ".join(f"{label:>9}" for label, _ in SUMMARY_GROUPS)
        for emulate in EMULATIONS:
            print(f"== self-test: float32 oracle vs fake dumps computed in {emulate}")
            print(header)
            worst = {}
            for name, overrides in SELF_TEST_CASES.items():
                write_dump(path, self_test_config(base, overrides), 10, emulate)
                rows = check_dump(path, expected_steps=10)
                cells = summary_cells(rows)
                print(f"{name:44} " + " ".join(f"{c:>9}" for c in cells))
                for row in rows:
                    if not row.ok:
                        ok = False
                        print(row)
                for (label, _), cell in zip(SUMMARY_GROUPS, cells):
                    if label != "struct" and cell != "-":
                        worst[label] = max(worst.get(label, 0.0), float(cell.rstrip("!")))
            cells = [f"{worst[g]:9.1e}" if g in worst else " " * 9 for g, _ in SUMMARY_GROUPS]
            print(f"{'worst':44} " + " ".join(cells))

        print("== self-test: the fake computes with a deviation the dump's config does not claim")
        for name, overrides, deviations in SELF_TEST_MUTATIONS:
            config = self_test_config(base, overrides)
            public = [d for d in deviations if not d.startswith("_")]
            compute_config = self_test_config(base, overrides + public)
            for d in deviations:
                if d.startswith("_"):
                    key, value = d.split("=", 1)
                    compute_config[key] = value
            write_dump(path, compute_config, 10)
            with h5py.File(path, "a") as f:
                f.attrs["config_yaml"] = yaml.safe_dump(config, sort_keys=False)
            ok &= report_caught(name, check_dump(path, expected_steps=10))

        print("== self-test: damaged dumps")
        gated = self_test_config(base, [])
        for how in DUMP_CORRUPTIONS:
            write_dump(path, gated, 10)
            corrupt_dump(path, how)
            ok &= report_caught(how, check_dump(path, expected_steps=10))

        print("== self-test: the binary is missing or fails")
        saved = os.environ.get("GATEDLM")
        for binary in ("", "/bin/false", os.path.join(tmp, "absent")):
            os.environ["GATEDLM"] = binary
            try:
                run_oracle_dump(base, [], 1, tmp)
                print(f"  MISSED GATEDLM={binary!r} did not raise")
                ok = False
            except HarnessError as error:
                print(f"  caught GATEDLM={binary!r}: {str(error).splitlines()[0]}")
        os.environ["GATEDLM"] = ""
        caught = run_parity_cases("self-test parity, GATEDLM unset", [("any", [])], 1) != 0
        verdict = "caught" if caught else "MISSED"
        print(f"  {verdict} run_parity_cases with GATEDLM unset exits nonzero")
        ok &= caught
        if saved is None:
            del os.environ["GATEDLM"]
        else:
            os.environ["GATEDLM"] = saved
    print("self-test", "passed" if ok else "FAILED")
    return ok


def report_caught(name, rows):
    failed = [r for r in rows if not r.ok]
    if failed:
        worst = max(failed, key=lambda r: math.inf if r.error is None else r.error)
        error = "missing" if worst.error is None else f"{worst.error:.2e}"
        print(f"  caught {name}: {len(failed)} checks fail, worst {worst.name} {error}")
    else:
        print(f"  MISSED {name}")
    return bool(failed)


# ----------------------------------------------------------------------------------------------


def main(argv):
    if argv and argv[0] == "--self-test":
        return 0 if self_test() else 1
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="compare a gatedlm oracle dump with the reference")
    check.add_argument("dump")
    check.add_argument("--steps", type=int, default=None, help="expected number of dumped steps")
    fake = sub.add_parser("fake-oracle-dump", help="write a dump from this reference (self-tests)")
    fake.add_argument("config")
    fake.add_argument("--set", dest="overrides", action="append", default=[])
    fake.add_argument("--out", required=True)
    fake.add_argument("--steps", type=int, default=0)
    fake.add_argument(
        "--randomize-all", action="store_true", help="randomize norms and static gates too"
    )
    fake.add_argument(
        "--emulate",
        choices=EMULATIONS,
        default=os.environ.get("GATEDLM_FAKE_EMULATE", "float64"),
        help="rounding of the fake (default: env GATEDLM_FAKE_EMULATE or float64)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only contend (ctest runs in parallel)
    if args.command == "check":
        return 0 if print_rows(args.dump, check_dump(args.dump, expected_steps=args.steps)) else 1
    config = load_config(args.config, args.overrides)
    write_dump(args.out, config, args.steps, args.emulate, args.randomize_all)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
