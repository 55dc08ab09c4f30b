#!/usr/bin/python3
"""PyTorch baseline for `gatedlm bench`: trains the same model on random tokens, on the CPU or
a CUDA GPU, eagerly or under torch.compile.

Reads a gatedlm YAML config (`base:` inheritance, `--set` overrides), builds the model of
tests/reference/gatedlm_ref.py (torch's fused attention where torch has it, else the explicit
softmax), and times AdamW steps after a warm-up. Prints one JSON line:
  {"impl": "pytorch", "device", "compiled", "precision", "tokens_per_s", "step_s", ...}

Examples (Debian's python has torch for the CPU; on a GPU machine use its python3):
  /usr/bin/python3 scripts/bench/pytorch_bench.py --config configs/train/bench.yaml \\
      --seq-len 256 --batch 8 --steps 10 --warmup 2 --threads 2
  python3 scripts/bench/pytorch_bench.py --config configs/train/bench.yaml --device cuda --compile
"""

import argparse
import json
import os
import resource
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="gatedlm YAML config")
    parser.add_argument("--seq-len", type=int, default=None, help="default: train.seq_len")
    parser.add_argument(
        "--batch", type=int, default=None, help="sequences per step (default: micro_batch_size)"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tokens")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="fp32 (no TF32), or bf16 autocast over fp32 master weights",
    )
    return parser.parse_args(argv)


def match_params_of_ungated(model):
    """Narrows intermediate_size by the gate's extra parameters (rounded to the nearest row)."""
    if not model.get("match_params_of_ungated"):
        return
    gate = model["attention_gate"]
    heads = {
        "sdpa": model["num_attention_heads"],
        "query": model["num_attention_heads"],
        "key": model["num_key_value_heads"],
        "value": model["num_key_value_heads"],
    }
    if gate["position"] == "none":
        width = 0
    elif gate["position"] == "dense":
        width = model["hidden_size"]
    else:
        per_head = model["head_dim"] if gate["granularity"] == "elementwise" else 1
        width = heads[gate["position"]] * per_head
    extra = model["hidden_size"] * width if gate["input_dependent"] else width
    if model["sdpa_output_transform"] == "rmsnorm":
        extra += model["head_dim"]
    per_row = 3 * model["hidden_size"]
    model["intermediate_size"] -= (extra + per_row // 2) // per_row
    model["match_params_of_ungated"] = False


def main(argv):
    args = parse_args(argv)
    # Thread counts must be fixed before torch (and its BLAS) loads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.dont_write_bytecode = True
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "tests", "reference"))
    import torch

    import gatedlm_ref

    torch.set_num_threads(args.threads)
    config = gatedlm_ref.load_config(args.config, args.overrides, lenient=True)
    model = config["model"]
    match_params_of_ungated(model)
    config["train"]["precision"] = "fp32"  # the weights; --precision bf16 autocasts the math
    gatedlm_ref.check_supported(config)
    gatedlm_ref.USE_FUSED_ATTENTION = True
    fused = hasattr(torch.nn.functional, "scaled_dot_product_attention")

    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as gatedlm's cuBLAS
        torch.backends.cudnn.allow_tf32 = False
    params = {n: t.to(device).requires_grad_(True) for n, t in gatedlm_ref.init_params(config).items()}
    opt = config["optimizer"]
    decay = [p for n, p in params.items() if gatedlm_ref.decays(n, config)]
    no_decay = [p for n, p in params.items() if not gatedlm_ref.decays(n, config)]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": opt["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=opt["lr"],
        betas=tuple(opt["betas"]),
        eps=opt["eps"],
    )
    max_norm = float(config["train"]["max_grad_norm"])
    generator = torch.Generator().manual_seed(args.seed)
    vocab = model["vocab_size"]
    batch = args.batch or int(config["train"]["micro_batch_size"])
    seq_len = args.seq_len or int(config["train"]["seq_len"])

    def forward(inputs, targets):
        return gatedlm_ref.forward(params, config, inputs, targets)[1]

    if args.compile:
        forward = torch.compile(forward)
    synchronize = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    def step():
        tokens = torch.randint(vocab, (batch, seq_len + 1), generator=generator).to(device)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = forward(tokens[:, :-1], tokens[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
        optimizer.step()
        return float(loss)

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    synchronize()
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    synchronize()
    elapsed = time.perf_counter() - start

    step_s = elapsed / max(1, args.steps)
    result = {
        "impl": "pytorch",
        "device": args.device,
        "compiled": args.compile,
        "precision": args.precision,
        "warmup_s": warmup_s,
        "tokens_per_s": batch * seq_len / step_s,
        "step_s": step_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "params": sum(p.numel() for p in params.values()),
        "threads": args.threads,
        "seq_len": seq_len,
        "batch": batch,
        "steps": args.steps,
        "attention": "fused" if fused else "explicit",
        "torch": torch.__version__,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None,
        "final_loss": loss if args.steps else None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
