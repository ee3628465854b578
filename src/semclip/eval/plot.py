"""Figures from records: accuracy against SNR (one panel per channel, one line per
method, its 95 % interval shaded, the noiseless backbone dashed), against channel uses,
against energy per image, and the prompt protocols."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from semclip._io import atomic_write
from semclip.results import Results, channel_label, uses_span

STYLE = {"semclip": dict(marker="o", color="C0"), "pca-flat": dict(marker=".", color="0.6")}
LINESTYLES = ("-", "--", "-.", ":")


CSI_LABELS = {"mmse": "perfect CSI, MMSE", "zf": "perfect CSI, ZF", "decoder": "CSI at decoder", "none": "no CSI",
              "ls": "LS-estimated CSI", "perfect": "perfect CSI"}  # the last two: OFDM links


def _title(channel: str, csi: str | None) -> str:
    if channel == "awgn":
        return "AWGN channel"
    what = "Rayleigh block fading" if channel == "rayleigh" else channel  # another channel: its name (an OFDM link's model)
    return what + (f" ({CSI_LABELS.get(csi, csi)})" if csi else "")


Runs = Results | Sequence[tuple[str, Results]]


def _runs(results: Runs) -> list[tuple[str, Results]]:
    return [("", results)] if isinstance(results, Results) else list(results)


def _top1(res: Results) -> list:
    return [r for r in res.records if r.metric == "top1" and r.on_grid and r.task == "zero-shot-classification"]


def _panel(ax, title: str | None, xlabel: str, log: bool = False, **font) -> None:
    """A panel's title, x label and grid (on both tick levels of a log axis)."""
    if title is not None:
        ax.set_title(title, **font)
    ax.set_xlabel(xlabel, **({"fontsize": 8} if font else {}))
    ax.grid(alpha=0.3, which="both" if log else "major")


def _accuracy_axis(axes) -> None:
    """The shared accuracy scale: label each row's first panel, 0 to 1."""
    for row in axes:
        row[0].set_ylabel("zero-shot top-1 accuracy")
    axes[0][0].set_ylim(0, 1)


def _band(ax, records: Sequence, x, color: str) -> None:
    """Shade the records' 95 % intervals (where they carry one) along x(record)."""
    pts = sorted((x(r), *r.ci95) for r in records if r.ci95 is not None)
    if pts:
        ax.fill_between([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], color=color, alpha=0.15, lw=0)


def _figure(path: str | Path, fig, dpi: int = 140) -> Path:
    """Lay out, write atomically and close ``fig``: every plot ends here."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    plt.close(fig)
    return out


def _method_lines(ax, records: Sequence, x, methods: Sequence[str]) -> None:
    """One line per method of ``records`` along x(record), its interval shaded."""
    for m in dict.fromkeys(r.method for r in records):
        mine = sorted((r for r in records if r.method == m), key=x)
        style = STYLE.get(m, dict(marker="s", color=f"C{list(methods).index(m) + 1 if m in methods else 9}"))
        _band(ax, mine, x, style["color"])
        ax.plot([x(r) for r in mine], [r.value for r in mine], label=m, ms=4, **style)


def plot_equal_energy(records: Sequence, path: str | Path, methods: Sequence[str]) -> Path:
    """Accuracy against energy per image (E/N0 = SNR + 10 log10 uses, dB), one panel per
    channel: semclip on the baselines' images (its grid and its equal-energy points) and
    every baseline, 95 % intervals shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semclip.eval.views import energy_db

    recs = [r for r in records if r.snr_db is not None and r.channel_uses_per_image > 0
            and ((r.method == "semclip" and r.view in ("subset", "equal-energy")) or (r.method in methods and r.on_grid))]
    channels = list(dict.fromkeys(channel_label(r) for r in recs))
    if not channels:
        raise ValueError("no records to plot at equal energy")
    fig, axes = plt.subplots(1, len(channels), figsize=(5.6 * len(channels), 4), sharey=True, squeeze=False)
    for ax, ch in zip(axes[0], channels):
        _method_lines(ax, [r for r in recs if channel_label(r) == ch], energy_db, methods)
        _panel(ax, ch, "energy per image, E/N0 (dB)")
    _accuracy_axis(axes)
    axes[0][-1].legend(loc="lower right", fontsize=7)
    return _figure(path, fig)


def plot_equal_bandwidth(records: Sequence, path: str | Path, methods: Sequence[str]) -> Path:
    """Accuracy against channel uses per image (log) at the equal-bandwidth view's SNRs:
    one panel per (channel, SNR); semclip over its k, the image baselines over their
    budgets, token-digital per bit width; 95 % intervals shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if r.view == "bandwidth"]
    channels = list(dict.fromkeys(channel_label(r) for r in recs))
    snrs = sorted({r.snr_db for r in recs})
    if not recs:
        raise ValueError("no equal-bandwidth records to plot")
    fig, axes = plt.subplots(len(channels), len(snrs), figsize=(4.4 * len(snrs), 3.6 * len(channels)), sharey=True, squeeze=False)
    for row, ch in zip(axes, channels):
        for ax, snr in zip(row, snrs):
            _method_lines(ax, [r for r in recs if channel_label(r) == ch and r.snr_db == snr], lambda r: r.channel_uses_per_image, methods)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{ch}, {snr:g} dB", fontsize=9)
            _panel(ax, None, "complex channel uses per image", log=True)
    _accuracy_axis(axes)
    axes[0][-1].legend(loc="upper left", fontsize=7)
    return _figure(path, fig)


def plot_accuracy_vs_snr(results: Runs, path: str | Path, chance: float | None = None) -> Path:
    """One panel per channel, one line per method; several runs (label, Results) overlay
    with a line style each and their label in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = _runs(results)
    recs = [(label, r) for label, res in runs for r in _top1(res)]
    channels = sorted({(r.channel, r.csi) for _, r in recs if r.channel != "none"}, key=lambda c: (c[0], c[1] or ""))
    methods = sorted({r.method for _, r in recs if r.channel != "none"})
    fig, axes = plt.subplots(1, max(1, len(channels)), figsize=(5.2 * max(1, len(channels)), 4), sharey=True, squeeze=False)
    for ax, (ch, csi) in zip(axes[0], channels or [("awgn", None)]):
        for k, (label, res) in enumerate(runs):
            here = [r for lab, r in recs if lab == label and (r.channel, r.csi) == (ch, csi)]
            for m in sorted({r.method for r in here}):
                mine = [r for r in here if r.method == m]
                pts = sorted((r.snr_db, r.value) for r in mine)
                sub = f", {mine[0].n_images} imgs" if mine[0].n_images else ""
                style = dict(STYLE.get(m, dict(marker="s", color=f"C{methods.index(m) + 1}")), ls=LINESTYLES[k % len(LINESTYLES)])
                name = f"{label}: {m}" if label else m
                _band(ax, mine, lambda r: r.snr_db, style["color"])
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{name} ({uses_span(mine)} ch. uses{sub})", **style)
            clean = [r.value for lab, r in recs if lab == label and r.method == "clean"]
            if clean:
                ax.axhline(clean[0], ls="--", color="k", lw=1, alpha=1 - 0.3 * k, label=f"{label + ': ' if label else ''}noiseless backbone")
        if chance is not None:
            ax.axhline(chance, ls=":", color="grey", lw=1, label="chance")
        _panel(ax, _title(ch, csi), "SNR (dB)")
    _accuracy_axis(axes)
    many = len(methods) * len(runs) > 3
    axes[0][-1].legend(loc="upper left" if many else "lower right", bbox_to_anchor=(1.02, 1) if many else None, fontsize=8)
    fig.suptitle(" | ".join(f"{label + ': ' if label else ''}{res.dataset} — backbone {res.backbone}" for label, res in runs), fontsize=10)
    return _figure(path, fig, 150)


def plot_accuracy_vs_channel_uses(results: Runs, path: str | Path) -> Path:
    """Accuracy against complex channel uses per image (log scale), one panel per channel,
    one colour per SNR (lowest, 0 dB, highest): where each method sits in the
    bandwidth-accuracy plane."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = _runs(results)
    recs = [(label, r) for label, res in runs for r in _top1(res) if r.channel != "none" and r.channel_uses_per_image > 0]
    if not recs:
        raise ValueError("no noisy-channel records to plot")
    channels = sorted({(r.channel, r.csi) for _, r in recs}, key=lambda c: (c[0], c[1] or ""))
    grid = sorted({r.snr_db for _, r in recs})
    snrs = sorted({grid[0], grid[-1]} | ({0.0} if 0.0 in grid else set()))
    fig, axes = plt.subplots(1, len(channels), figsize=(5.2 * len(channels), 4), sharey=True, squeeze=False)
    for ax, (ch, csi) in zip(axes[0], channels):
        for j, snr in enumerate(snrs):
            pts = [(label, r) for label, r in recs if (r.channel, r.csi) == (ch, csi) and r.snr_db == snr]
            ax.scatter([r.channel_uses_per_image for _, r in pts], [r.value for _, r in pts], color=f"C{j}", label=f"{snr:g} dB")
            for label, r in pts:
                ax.annotate(f"{label + ': ' if label else ''}{r.method}", (r.channel_uses_per_image, r.value), fontsize=6,
                            xytext=(3, 2), textcoords="offset points")
        ax.set_xscale("log")
        _panel(ax, _title(ch, csi), "complex channel uses per image", log=True)
    _accuracy_axis(axes)
    axes[0][-1].legend(loc="lower right", fontsize=8)
    return _figure(path, fig, 150)


SPLIT_TITLES = {"base": "base classes", "novel": "novel classes", "hm": "harmonic mean", "source": "source", "target": "target"}


def plot_protocol(rows: list[dict], path: str | Path) -> Path:
    """Prompt-learning protocols: one panel per (dataset, split), one line per method with
    the spread over seeds as error bars, the noiseless backbone dashed. ``rows`` come from
    ``semclip.eval.summary.summarize``; the first channel present is drawn."""
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
        _panel(ax, f"{dataset}: {SPLIT_TITLES.get(split, split)}", f"SNR (dB), {_title(channel[0], channel[1] or None)}", fontsize=9)
    for row in axes:
        row[0].set_ylabel("zero-shot top-1 accuracy")
    axes.flat[len(panels) - 1].legend(loc="lower right", fontsize=7)
    return _figure(path, fig, 130)


def plot_accuracy_vs_k(records: Sequence, path: str | Path) -> Path:
    """The k sweep: one panel per evaluation set (zero-shot top-1) and one for retrieval
    (image-to-text R@1), against complex channel uses per token, one line per token code,
    the noiseless backbone dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in records if r.view == "k-sweep"]
    snr = next((r.snr_db for r in sweep), None)
    rr = [r for r in records if r.task == "retrieval" and r.k is not None and r.snr_db == snr and r.channel == "awgn"
          and r.view == "image-to-text" and r.metric == "r@1"]
    panels = [(d, "top1") for d in dict.fromkeys(r.dataset for r in sweep)] + ([(rr[0].dataset, "r@1")] if rr else [])
    if not panels:
        raise ValueError("no k-sweep records to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (dataset, metric) in zip(axes[0], panels):
        here = [r for r in (sweep if metric == "top1" else rr) if r.dataset == dataset]
        for i, m in enumerate(dict.fromkeys(r.method for r in here)):
            pts = sorted((r.k, r.value) for r in here if r.method == m)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=m, **STYLE.get(m, dict(marker="s", color=f"C{i + 1}")))
        view = "all" if metric == "top1" else "image-to-text"
        clean = [r.value for r in records if r.method == "clean" and r.dataset == dataset and r.metric == metric and r.view == view]
        if clean:
            ax.axhline(clean[0], ls="--", color="k", lw=1, label="noiseless backbone")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("complex channel uses per image (k)")
        ax.set_ylabel("zero-shot top-1" if metric == "top1" else "image-to-text R@1")
        ax.set_title(f"{dataset}, AWGN {snr:g} dB", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=7)
    return _figure(path, fig, 130)
