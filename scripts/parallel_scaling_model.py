#!/usr/bin/env python3
"""Communication per training step under TP x DP (x EP), as gatedlm's byte counter counts it
(the bytes one rank sends, ring algorithms: all-reduce 2(p-1)/p of the buffer, reduce-scatter
and all-gather (p-1)/p, all-to-all (p-1)/p of what is routed), and the time it takes on stated
links. docs/parallelism.md prints its tables; tests/integration/test_parallel_tensor.py checks
it against the bytes a run measures.

    scripts/parallel_scaling_model.py            # the docs' tables
"""
import math
import sys


def model_dims(name):
    """Shapes of the paper's models (docs/parallelism.md cites where they come from)."""
    if name == "dense-1.7b":
        return dict(layers=28, hidden=2048, heads=16, kv_heads=8, head_dim=128, ffn=6144,
                    vocab=151936, tied=True, experts=0, top_k=0, expert_ffn=0)
    if name == "moe-15b-a2.5b":
        return dict(layers=24, hidden=2048, heads=32, kv_heads=4, head_dim=128, ffn=0,
                    vocab=151936, tied=False, experts=128, top_k=8, expert_ffn=768)
    if name == "dense-tiny":  # configs/models/dense-tiny.yaml
        return dict(layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=192, vocab=256,
                    tied=True, experts=0, top_k=0, expert_ffn=0)
    if name == "moe-tiny":  # dense-tiny's attention, 8 experts of 48, top-2 (test_parallel_expert)
        return dict(layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=0, vocab=256,
                    tied=True, experts=8, top_k=2, expert_ffn=48)
    raise ValueError(name)


def parameter_counts(m, vocab_parallel=True):
    """(split by TP, replicated, of which partial per shard, split by EP) parameter counts; the
    embedding and LM head are split by vocabulary rows (parallel.vocab_parallel) or replicated."""
    c, d = m["hidden"], m["head_dim"]
    q, kv = m["heads"] * d, m["kv_heads"] * d
    attn = c * (q + 2 * kv) + q * c
    mlp = 3 * c * m["ffn"]
    experts = 3 * c * m["expert_ffn"] * m["experts"]
    router = c * m["experts"]
    embed = m["vocab"] * c * (1 if m["tied"] else 2)
    norms = 2 * c * m["layers"] + c
    per_head_norms = 2 * d * m["layers"]
    split = m["layers"] * (attn + mlp) + (embed if vocab_parallel else 0)
    replicated = (0 if vocab_parallel else embed) + norms + per_head_norms + m["layers"] * router
    return split, replicated, per_head_norms, m["layers"] * experts


def ring_all_reduce(p, n_bytes):
    return 2 * (p - 1) * n_bytes // p if p > 1 else 0


def step_bytes(m, tensor=1, data=1, expert=1, micro_batch=1, seq_len=4096, grad_accum=1,
               zero=False, act_bytes=2, grad_bytes=4, vocab_parallel=True, exchanged_rows=None):
    """Bytes one rank sends per optimizer step, by group: {"tensor": ..., "data": ..., "expert": ...}.
    exchanged_rows: the rows this rank sent to other ranks' experts plus those it received, over
    the step's MoE layers and micro-batches (routing decides it); None assumes balanced routing."""
    split, replicated, per_head_norms, experts = parameter_counts(m, vocab_parallel)
    dense_local = replicated + split // tensor
    tokens = micro_batch * seq_len
    # TP: per layer and micro-batch, the attention and MLP outputs summed in forward and their
    # input gradients in backward; after backward the per-head norm gradients; the grad norm.
    tp = grad_accum * m["layers"] * 4 * ring_all_reduce(tensor, tokens * m["hidden"] * act_bytes)
    tp += ring_all_reduce(tensor, per_head_norms * grad_bytes) + ring_all_reduce(tensor, 8)
    if vocab_parallel:
        # Per micro-batch: the embedding lookup and the LM head's input gradient (activations),
        # the loss's fp32 row maxima and its (exp-sum, target logit) pairs.
        tp += grad_accum * (2 * ring_all_reduce(tensor, tokens * m["hidden"] * act_bytes)
                            + ring_all_reduce(tensor, tokens * 4) + ring_all_reduce(tensor, tokens * 8))
    # DP: the gradient all-reduce (ZeRO-1: reduce-scatter + all-gather, the same bytes), the loss
    # mean, and under ZeRO-1 the grad-norm partial sums.
    # Expert weights are reduced over the data ranks that hold the same experts (data / expert).
    dp = ring_all_reduce(data, dense_local * grad_bytes) + ring_all_reduce(data, 8)
    dp += ring_all_reduce(data // expert, experts // expert * grad_bytes)
    if zero:
        dp += ring_all_reduce(data, 16)
    # MoE's global-batch load balancing: per micro-batch, every layer's E counts and its total.
    if m["experts"]:
        dp += grad_accum * ring_all_reduce(data, m["layers"] * (m["experts"] + 1) * 8)
    # EP: each MoE layer routes top_k copies of every token; (e-1)/e of them leave the rank
    # (balanced), in dispatch and combine, forward and backward; before each dispatch the
    # per-expert counts; after backward the experts' part of the gradient norm.
    ep = 0
    if m["experts"] and expert > 1:
        if exchanged_rows is None:
            exchanged_rows = grad_accum * m["layers"] * 2 * tokens * m["top_k"] * (expert - 1) // expert
        ep = 2 * exchanged_rows * m["hidden"] * act_bytes
        ep += grad_accum * m["layers"] * (expert - 1) * (m["experts"] // expert) * 8
        ep += ring_all_reduce(expert, 8)
    return {"tensor": tp, "data": dp, "expert": ep}


# Links (per GPU, one direction, what NCCL's bus bandwidth reaches): NVLink 4 in an 8-GPU H100
# node, and one 400 Gb/s NDR InfiniBand NIC per GPU between nodes.
NVLINK_GBS = 360.0
INFINIBAND_GBS = 45.0
GPUS_PER_NODE = 8
PEAK_TFLOPS = 989.0  # H100 SXM dense bf16
MFU = 0.4


def step_time(m, gpus, tensor, expert, global_batch=1024, seq_len=4096, micro_batch=2):
    data = gpus // tensor
    micro_batch = max(1, min(micro_batch, global_batch // data))
    grad_accum = max(1, global_batch // (micro_batch * data))
    b = step_bytes(m, tensor, data, expert, micro_batch, seq_len, grad_accum, zero=True)
    # TP stays inside a node (NVLink); DP and EP cross nodes once the group outgrows one.
    tp_link = NVLINK_GBS
    dp_link = NVLINK_GBS if gpus <= GPUS_PER_NODE else INFINIBAND_GBS
    ep_link = NVLINK_GBS if tensor * expert <= GPUS_PER_NODE else INFINIBAND_GBS
    comm = (b["tensor"] / tp_link + b["data"] / dp_link + b["expert"] / ep_link) / 1e9
    split, replicated, _, experts = parameter_counts(m)
    active = split + replicated + (experts * m["top_k"] // m["experts"] if m["experts"] else 0)
    compute = 6 * active * global_batch * seq_len / (gpus * PEAK_TFLOPS * 1e12 * MFU)
    return b, comm, compute


def table(name, layouts):
    m = model_dims(name)
    rows = [f"| GPUs | TP | DP | EP | TP GB | DP GB | EP GB | comm s (no overlap) | compute s | comm/compute |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for gpus, tensor, expert in layouts:
        b, comm, compute = step_time(m, gpus, tensor, expert)
        rows.append(f"| {gpus} | {tensor} | {gpus // tensor} | {expert} | {b['tensor'] / 1e9:.2f} | "
                    f"{b['data'] / 1e9:.2f} | {b['expert'] / 1e9:.2f} | {comm:.3f} | {compute:.3f} | "
                    f"{comm / compute:.2f} |")
    return "\n".join(rows)


def main():
    print("dense-1.7b, global batch 1024 x 4096, micro-batch 2, ZeRO-1, bf16 activations, fp32 grads\n")
    print(table("dense-1.7b", [(8, 1, 1), (8, 2, 1), (64, 1, 1), (64, 2, 1), (256, 2, 1),
                               (1024, 2, 1), (1024, 4, 1)]))
    print("\nmoe-15b-a2.5b, same batch\n")
    print(table("moe-15b-a2.5b", [(8, 1, 8), (64, 1, 8), (64, 2, 4), (256, 1, 8), (256, 1, 32),
                                  (1024, 1, 8), (1024, 2, 8)]))


if __name__ == "__main__":
    sys.exit(main())
