"""Accuracy-vs-SNR figure: one panel per channel, one line per method, the noiseless
backbone as a dashed reference line."""

from __future__ import annotations

from pathlib import Path

from semclip._io import atomic_write
from semclip.eval.results import Results, uses_span

STYLE = {"semclip": dict(marker="o", color="C0")}


CSI_LABELS = {"mmse": "perfect CSI, MMSE", "zf": "perfect CSI, ZF", "decoder": "CSI at decoder", "none": "no CSI"}


def _title(channel: str, csi: str | None) -> str:
    if channel == "awgn":
        return "AWGN channel"
    return "Rayleigh block fading" + (f" ({CSI_LABELS[csi]})" if csi else "")


def plot_accuracy_vs_snr(results: Results, path: str | Path, chance: float | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in results.records if r.metric == "top1" and r.split == "all"]
    channels = sorted({(r.channel, r.csi) for r in recs if r.channel != "none"}, key=lambda c: (c[0], c[1] or ""))
    clean = [r.value for r in recs if r.method == "clean"]
    fig, axes = plt.subplots(1, max(1, len(channels)), figsize=(5.2 * max(1, len(channels)), 4), sharey=True, squeeze=False)
    for ax, (ch, csi) in zip(axes[0], channels or [("awgn", None)]):
        here = [r for r in recs if (r.channel, r.csi) == (ch, csi)]
        for i, m in enumerate(sorted({r.method for r in here})):
            pts = sorted((r.snr_db, r.value) for r in here if r.method == m)
            mine = [r for r in here if r.method == m]
            span = uses_span(mine)
            sub = f", {mine[0].n_images} imgs" if mine[0].n_images else ""
            style = STYLE.get(m, dict(marker="s", color=f"C{i + 1}"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{m} ({span} ch. uses{sub})", **style)
        if clean:
            ax.axhline(clean[0], ls="--", color="k", lw=1, label="noiseless backbone")
        if chance is not None:
            ax.axhline(chance, ls=":", color="grey", lw=1, label="chance")
        ax.set_title(_title(ch, csi))
        ax.set_xlabel("SNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("zero-shot top-1 accuracy")
    axes[0][0].set_ylim(0, 1)
    many = len({r.method for r in recs}) > 3
    axes[0][-1].legend(loc="upper left" if many else "lower right", bbox_to_anchor=(1.02, 1) if many else None, fontsize=8)
    fig.suptitle(f"{results.dataset} — backbone {results.backbone}", fontsize=10)
    fig.tight_layout()
    out = atomic_write(path, lambda p: fig.savefig(p, dpi=150, format="png"))
    plt.close(fig)
    return out


SPLIT_TITLES = {"base": "base classes", "novel": "novel classes", "hm": "harmonic mean", "source": "source", "target": "target"}


def plot_protocol(rows: list[dict], path: str | Path) -> Path:
    """Prompt-learning protocols: one panel per (dataset, split), one line per method with
    the spread over seeds as error bars, the noiseless backbone dashed. ``rows`` come from
    ``semclip.evaluate.summarize``; the first channel present is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noisy = [r for r in rows if r["channel"] != "none"]
    if not noisy:
        raise ValueError("no noisy-channel rows to plot")
    channel = sorted({(r["channel"], r["csi"] or "") for r in noisy})[0]
    panels = sorted({(r["dataset"], r["split"]) for r in noisy}, key=lambda p: (p[0] or "", list(SPLIT_TITLES).index(p[1]) if p[1] in SPLIT_TITLES else 9))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    methods = sorted({r["method"] for r in noisy})
    for ax, (dataset, split) in zip(axes.flat, panels):
        for i, m in enumerate(methods):
            pts = sorted(
                (r["snr_db"], r["mean"], r["std"])
                for r in noisy
                if (r["dataset"], r["split"], r["method"], r["channel"], r["csi"] or "") == (dataset, split, m, *channel)
            )
            if pts:
                style = STYLE.get(m, dict(marker="s", color=f"C{i + 1}"))
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], label=m, capsize=2, **style)
        clean = [r["mean"] for r in rows if r["channel"] == "none" and (r["dataset"], r["split"]) == (dataset, split)]
        if clean:
            ax.axhline(clean[0], ls="--", color="k", lw=1, label="noiseless backbone")
        ax.set_title(f"{dataset}: {SPLIT_TITLES.get(split, split)}", fontsize=9)
        ax.set_xlabel(f"SNR (dB), {_title(channel[0], channel[1] or None)}", fontsize=8)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("zero-shot top-1 accuracy")
    axes.flat[len(panels) - 1].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    out = atomic_write(path, lambda p: fig.savefig(p, dpi=130, format="png"))
    plt.close(fig)
    return out
