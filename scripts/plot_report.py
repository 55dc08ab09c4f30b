#!/usr/bin/env python3
"""Plots for `gatedlm report DIR` (which writes DIR/report.json and then runs this):
  DIR/plots/loss_curves.png   train loss (each step's, `loss`) of every run overlaid,
                              EMA-smoothed (raw curves faint)
  DIR/plots/val_loss.png      validation loss against step (when evaluated)
  DIR/plots/lr_vs_loss.png    final loss against peak LR, one line per variant; diverged
                              runs marked x at the top (only when the runs span several LRs)
  DIR/plots/layers.png        F-Attn and M-Act per layer, one line per run (when analysed)
  DIR/plots/fattn_over_training.png   mean F-Attn against step (when analysed more than once)
  DIR/plots/gate_score.png    mean gate score against step and per layer (gated runs analysed)
  DIR/plots/loss_vs_position.png      loss per position bucket at each run's longest evaluation,
                                      one panel per evaluation setting (staged sweeps' evaluate)
Every run's colour is its variant's and its line style its LR's, in every plot. Every F-Attn
axis spans [0, 1] with the uniform-attention level (what F-Attn is with no attention sink:
the mean over query positions t = 1..T-1 of 1/(t+1)) drawn in, so that a value near chance
does not read as an effect. Needs matplotlib (Debian: python3-matplotlib)."""
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
# tab20 with its dark shades first, so that up to 10 variants get clearly different colours.
COLORS = [plt.cm.tab20(i) for i in list(range(0, 20, 2)) + list(range(1, 20, 2))]
LINESTYLES = ["-", "--", ":", "-."]


def styles(runs):
    """run name -> plot style: the colour of its variant, the line style of its LR."""
    variants = sorted({r["variant"] for r in runs})
    lrs = sorted({r["lr"] for r in runs})
    return {r["name"]: {"color": COLORS[variants.index(r["variant"]) % len(COLORS)],
                        "linestyle": LINESTYLES[lrs.index(r["lr"]) % len(LINESTYLES)]}
            for r in runs}


def style_note(runs):
    """What the line styles mean, for a title: "line style: LR 0.001 -, 0.003 --"."""
    lrs = sorted({r["lr"] for r in runs})
    if len(lrs) < 2:
        return "colour: variant"
    return "colour: variant; line: " + ", ".join(
        f"lr {lr:g} {LINESTYLES[i % len(LINESTYLES)]}" for i, lr in enumerate(lrs))


def uniform_fattn(seq_len):
    """F-Attn of uniform causal attention over a window of seq_len: mean_{t=1..T-1} 1/(t+1)."""
    if seq_len < 2:
        return 1.0
    return sum(1.0 / (t + 1) for t in range(1, seq_len)) / (seq_len - 1)


def analysis_seq_len(run):
    """The window length of the run's analysis lines (older runs: its training length)."""
    with open(os.path.join(run["dir"], "metrics.jsonl")) as f:
        for line in f:
            if '"analysis_seq_len"' in line:
                try:
                    return json.loads(line)["analysis_seq_len"]
                except (ValueError, KeyError):
                    continue
    return run.get("train_seq_len") or 0


def fattn_axis(ax, runs):
    """[0, 1] with the uniform level of each analysis length as a dotted grey line."""
    ax.set_ylim(0, 1)
    for length in sorted({analysis_seq_len(r) for r in runs} - {0}):
        level = uniform_fattn(length)
        ax.axhline(level, color="gray", linestyle=":", linewidth=1.2)
        ax.annotate(f"uniform attention, T={length}: {level:.3f}", (0.01, level),
                    xycoords=("axes fraction", "data"), xytext=(0, 3),
                    textcoords="offset points", fontsize=7, color="dimgray")


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
    style = styles(runs)
    for run in runs:
        steps, losses = train_curve(run["dir"])
        finite = [(s, l) for s, l in zip(steps, losses) if math.isfinite(l)]
        if not finite:
            continue
        steps, losses = zip(*finite)
        decay = ema_decay(len(losses))
        decays.add(decay)
        smooth = ema(losses, decay)
        ax.plot(steps, losses, color=style[run["name"]]["color"], alpha=0.25, linewidth=0.8)
        ax.plot(steps, smooth, linewidth=1.5, label=run["name"], **style[run["name"]])
        if run["name"] in stable:
            shown.extend(smooth[len(smooth) // 10:])
    if shown:  # the first tenth of training (large initial losses) may go off the top
        lo, hi = min(shown), max(v for v in shown if math.isfinite(v))
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    ax.set_xlabel("step")
    ax.set_ylabel("train loss, each step's (EMA %s; raw faint)"
                  % "/".join(f"{d:.2f}" for d in sorted(decays)))
    diverged = len(runs) - len(stable)
    ax.set_title("Training loss" + (f" ({diverged} diverged runs go off the top)" if diverged else "")
                 + f"\n{style_note(runs)}", fontsize=10)
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
                        color=COLORS[i % len(COLORS)], label=v or "runs")
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
    style = styles(runs)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.8))
    for r in analysed:
        layers = range(len(r["layer_first_token_attn"]))
        a1.plot(layers, r["layer_first_token_attn"], marker=".", label=r["name"], **style[r["name"]])
        a2.plot(layers, r["layer_max_act"], marker=".", label=r["name"], **style[r["name"]])
    a1.set_title("F-Attn (attention on the first token) per layer", fontsize=10)
    a1.set_ylabel("F-Attn (probability on token 0)")
    fattn_axis(a1, analysed)
    a2.set_title("M-Act (max |residual| after the FFN) per layer", fontsize=10)
    a2.set_ylabel("M-Act (max |activation|, log scale)")
    for ax in (a1, a2):
        ax.set_xlabel("layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    a2.set_yscale("log")
    a1.legend(fontsize=7, ncol=2 if len(analysed) > 10 else 1, loc="upper right")
    fig.suptitle(f"Last analysis of each run ({style_note(runs)})", fontsize=10)
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
    fig, ax = curve_figure(runs, curves)
    fattn_axis(ax, [c[0] for c in curves])
    ax.set_xlabel("step")
    ax.set_ylabel("F-Attn (mean over layers)")
    ax.set_title(f"Attention on the first token during training\n{style_note(runs)}", fontsize=10)
    finish_curves(fig, ax, path, len(curves))
    return True


def curve_figure(runs, curves):
    """A figure with one (run, steps, values) curve per run, in the run's variant/LR style."""
    style = styles(runs)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for r, steps, values in curves:
        ax.plot(steps, values, marker=".", label=r["name"], **style[r["name"]])
    return fig, ax


def finish_curves(fig, ax, path, count):
    """Grid, legend (two columns past ten runs) and the PNG of a plot of one curve per run."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if count > 10 else 1, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_val_loss(runs, path):
    curves = [(r, *metric_curve(r["dir"], "val_loss")) for r in runs]
    curves = [(r, s, v) for r, s, v in curves if any(math.isfinite(x) for x in v)]
    if not curves:
        return False
    fig, ax = curve_figure(runs, curves)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (mean over train.eval_batches)")
    ax.set_title(f"Validation loss\n{style_note(runs)}", fontsize=10)
    finish_curves(fig, ax, path, len(curves))
    return True


def last_layer_gate_scores(run_dir):
    """Per-layer gate scores of the run's last analysis line; [] when it has none."""
    scores = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            if '"analysis"' not in line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            layers = [layer.get("gate_score") for layer in j.get("analysis", [])]
            if layers and all(isinstance(v, (int, float)) for v in layers):
                scores = layers
    return scores


def plot_gate_score(runs, path):
    gated = [(r, *metric_curve(r["dir"], "gate_score")) for r in runs]
    gated = [c for c in gated if c[1]]
    if not gated:
        return False
    style = styles(runs)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.8))
    for r, steps, values in gated:
        a1.plot(steps, values, marker=".", label=r["name"], **style[r["name"]])
        layers = last_layer_gate_scores(r["dir"])
        if layers:
            a2.plot(range(len(layers)), layers, marker=".", label=r["name"], **style[r["name"]])
    top = max(max(v) for _, _, v in gated)
    for ax in (a1, a2):
        # A sigmoid gate's range (other activations may pass 1); sigmoid(0) = 0.5 is the score
        # of a gate that has learnt nothing.
        ax.set_ylim(0, max(1.0, top * 1.05))
        ax.axhline(0.5, color="gray", linestyle=":", linewidth=1.2)
        ax.set_ylabel("gate score (mean activated gate value)")
        ax.grid(alpha=0.3)
    a1.set_xlabel("step")
    a1.set_title("Mean over layers during training (dotted: sigmoid(0) = 0.5)", fontsize=10)
    a2.set_xlabel("layer")
    a2.xaxis.set_major_locator(MaxNLocator(integer=True))
    a2.set_title("Per layer, last analysis", fontsize=10)
    a1.legend(fontsize=7, ncol=2 if len(gated) > 10 else 1, loc="upper right")
    fig.suptitle(f"Gate scores ({style_note(runs)})", fontsize=10)
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
    style = styles(runs)
    for ax, setting in zip(axes[0], settings):
        for r in evaluated:
            mine = [e for e in r["evaluations"] if e["setting"] == setting and e["buckets"]]
            if not mine:
                continue
            longest = max(mine, key=lambda e: e["seq_len"])
            xs = [(b["start"] + b["end"]) / 2 for b in longest["buckets"]]
            ax.plot(xs, [b["loss"] for b in longest["buckets"]], marker=".",
                    label=f"{r['name']} (eval {longest['seq_len']})", **style[r["name"]])
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
    if plot_val_loss(runs, os.path.join(plots, "val_loss.png")):
        written.append(os.path.join(plots, "val_loss.png"))
    if plot_lr_vs_loss(runs, os.path.join(plots, "lr_vs_loss.png")):
        written.append(os.path.join(plots, "lr_vs_loss.png"))
    if plot_layers(runs, os.path.join(plots, "layers.png")):
        written.append(os.path.join(plots, "layers.png"))
    if plot_fattn_over_training(runs, os.path.join(plots, "fattn_over_training.png")):
        written.append(os.path.join(plots, "fattn_over_training.png"))
    if plot_gate_score(runs, os.path.join(plots, "gate_score.png")):
        written.append(os.path.join(plots, "gate_score.png"))
    if plot_loss_vs_position(runs, os.path.join(plots, "loss_vs_position.png")):
        written.append(os.path.join(plots, "loss_vs_position.png"))
    print("wrote " + ", ".join(written))


if __name__ == "__main__":
    main()
