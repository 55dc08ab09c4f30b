#!/usr/bin/env python3
"""Plots for `gatedlm report DIR` (which writes DIR/report.json and then runs this):
  DIR/plots/loss_curves.png   train loss of every run overlaid, EMA-smoothed (raw curves faint)
  DIR/plots/lr_vs_loss.png    final train loss against peak LR, one line per variant; diverged
                              runs marked x at the top (only when the runs span several LRs)
  DIR/plots/layers.png        F-Attn and M-Act per layer, one line per run (when analysed)
  DIR/plots/fattn_over_training.png   mean F-Attn against step (when analysed more than once)
  DIR/plots/loss_vs_position.png      loss per position bucket at each run's longest evaluation,
                                      one panel per evaluation setting (staged sweeps' evaluate)
Needs matplotlib (Debian: python3-matplotlib)."""
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
except ImportError:
    sys.exit("plot_report.py: matplotlib is missing (Debian: apt-get install python3-matplotlib)")

EMA = 0.9  # at most; short curves get less smoothing (see ema_decay)
# tab20 with its dark shades first, so that up to 10 runs get clearly different colours.
COLORS = [plt.cm.tab20(i) for i in list(range(0, 20, 2)) + list(range(1, 20, 2))]


def metric_curve(run_dir, key):
    """(steps, values) of `key` over metrics.jsonl, event lines excluded; a later line for a step
    wins (a rollback replays steps)."""
    by_step = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if "event" in j or not isinstance(j.get(key), (int, float)):
                continue
            by_step[j["step"]] = j[key]
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def train_curve(run_dir):
    return metric_curve(run_dir, "loss")


def ema_decay(points):
    """EMA decay spanning about a tenth of the curve, at most EMA."""
    return min(EMA, max(0.0, 1.0 - 10.0 / max(points, 1)))


def ema(values, decay):
    """Debiased exponential moving average (as TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = decay * avg + (1 - decay) * v
        out.append(avg / (1 - decay ** (i + 1)) if decay > 0 else v)
    return out


def plot_loss_curves(runs, path):
    fig, ax = plt.subplots(figsize=(9, 5.5))
    shown, decays = [], set()
    # The y range follows the runs that did not diverge (diverged curves run off the top).
    stable = {r["name"] for r in runs if not r["diverged"]} or {r["name"] for r in runs}
    for i, run in enumerate(runs):
        steps, losses = train_curve(run["dir"])
        finite = [(s, l) for s, l in zip(steps, losses) if math.isfinite(l)]
        if not finite:
            continue
        steps, losses = zip(*finite)
        color = COLORS[i % len(COLORS)]
        decay = ema_decay(len(losses))
        decays.add(decay)
        smooth = ema(losses, decay)
        ax.plot(steps, losses, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(steps, smooth, color=color, linewidth=1.5, label=run["name"])
        if run["name"] in stable:
            shown.extend(smooth[len(smooth) // 10:])
    if shown:  # the first tenth of training (large initial losses) may go off the top
        lo, hi = min(shown), max(v for v in shown if math.isfinite(v))
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    ax.set_xlabel("step")
    ax.set_ylabel("train loss (EMA %s; raw faint)" % "/".join(f"{d:.2f}" for d in sorted(decays)))
    diverged = len(runs) - len(stable)
    ax.set_title("Training loss" + (f" ({diverged} diverged runs go off the top)" if diverged else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(runs) > 10 else 1, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_lr_vs_loss(runs, path):
    if len({r["lr"] for r in runs}) < 2:
        return False
    variants = sorted({r["variant"] for r in runs})
    # Validation loss when every run has one (less noisy than one batch's train loss).
    key = "val_loss" if all(r["val_loss"] is not None for r in runs) else "final_loss"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    finite = [r[key] for r in runs if r[key] is not None and not r["diverged"]]
    top = max(finite) * 1.05 if finite else 1.0
    for i, v in enumerate(variants):
        sel = sorted((r for r in runs if r["variant"] == v), key=lambda r: r["lr"])
        ok = [r for r in sel if not r["diverged"] and r[key] is not None]
        line, = ax.plot([r["lr"] for r in ok], [r[key] for r in ok], marker="o",
                        label=v or "runs")
        bad = [r for r in sel if r["diverged"]]
        if bad:  # staggered so that variants diverging at one LR stay visible
            ax.scatter([r["lr"] for r in bad], [top * (1 + 0.01 * i)] * len(bad), marker="x",
                       s=60, color=line.get_color(), label=f"{v or 'runs'}: diverged")
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("final validation loss" if key == "val_loss" else "final train loss")
    ax.set_title("Learning rate vs final loss (x = diverged)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_layers(runs, path):
    analysed = [r for r in runs if r["layer_first_token_attn"]]
    if not analysed:
        return False
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, r in enumerate(analysed):
        layers = range(len(r["layer_first_token_attn"]))
        color = COLORS[i % len(COLORS)]
        a1.plot(layers, r["layer_first_token_attn"], marker=".", color=color, label=r["name"])
        a2.plot(layers, r["layer_max_act"], marker=".", color=color, label=r["name"])
    a1.set_title("F-Attn (attention on the first token) per layer")
    a2.set_title("M-Act (max |residual| after the FFN) per layer")
    for ax in (a1, a2):
        ax.set_xlabel("layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    a2.set_yscale("log")
    a1.legend(fontsize=7, ncol=2 if len(analysed) > 10 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def analysis_curve(run_dir):
    """(steps, mean F-Attn) of the analysis lines."""
    return metric_curve(run_dir, "first_token_attn")


def plot_fattn_over_training(runs, path):
    curves = [(r, *analysis_curve(r["dir"])) for r in runs]
    curves = [c for c in curves if len(c[1]) > 1]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (r, steps, values) in enumerate(curves):
        ax.plot(steps, values, marker=".", color=COLORS[i % len(COLORS)], label=r["name"])
    ax.axhline(0.2, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("F-Attn (mean over layers)")
    ax.set_title("Attention on the first token during training (dashed: 0.2)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 10 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_loss_vs_position(runs, path):
    evaluated = [r for r in runs if r.get("evaluations")]
    if not evaluated:
        return False
    settings = []  # in the order the spec lists them
    for r in evaluated:
        for e in r["evaluations"]:
            if e["setting"] not in settings:
                settings.append(e["setting"])
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 4.2), sharey=True,
                             squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for i, r in enumerate(evaluated):
            mine = [e for e in r["evaluations"] if e["setting"] == setting and e["buckets"]]
            if not mine:
                continue
            longest = max(mine, key=lambda e: e["seq_len"])
            xs = [(b["start"] + b["end"]) / 2 for b in longest["buckets"]]
            ax.plot(xs, [b["loss"] for b in longest["buckets"]], marker=".",
                    color=COLORS[i % len(COLORS)], label=f"{r['name']} (eval {longest['seq_len']})")
            ax.axvline(r["train_seq_len"], color="gray", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{setting} (dashed: training length)")
        ax.set_xlabel("position (bucket centre)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("mean loss")
    fig.suptitle("Loss vs position")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: plot_report.py DIR (after gatedlm report DIR wrote DIR/report.json)")
    out = sys.argv[1]
    with open(os.path.join(out, "report.json")) as f:
        runs = json.load(f)
    plots = os.path.join(out, "plots")
    os.makedirs(plots, exist_ok=True)
    written = [os.path.join(plots, "loss_curves.png")]
    plot_loss_curves(runs, written[0])
    if plot_lr_vs_loss(runs, os.path.join(plots, "lr_vs_loss.png")):
        written.append(os.path.join(plots, "lr_vs_loss.png"))
    if plot_layers(runs, os.path.join(plots, "layers.png")):
        written.append(os.path.join(plots, "layers.png"))
    if plot_fattn_over_training(runs, os.path.join(plots, "fattn_over_training.png")):
        written.append(os.path.join(plots, "fattn_over_training.png"))
    if plot_loss_vs_position(runs, os.path.join(plots, "loss_vs_position.png")):
        written.append(os.path.join(plots, "loss_vs_position.png"))
    print("wrote " + ", ".join(written))


if __name__ == "__main__":
    main()
