"""The report stage: results.md and the figures, from the records; and the facts beside
them in results.json (what the backbone saw, the JPEG floor)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from semclip._io import atomic_write_text
from semclip.backbones.base import Backbone
from semclip.baselines.common import BaselineConfig
from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.eval.compare import claims_markdown, comparison_markdown, floor_markdown
from semclip.eval.plot import plot_accuracy_vs_k, plot_accuracy_vs_snr, plot_equal_bandwidth, plot_equal_energy, plot_protocol
from semclip.eval.protocols import harmonic_records
from semclip.eval.retrieval import retrieval_markdown
from semclip.eval.summary import summarize, summary_markdown
from semclip.eval.table import markdown_table
from semclip.eval.views import BASELINE_METHODS, views_markdown
from semclip.job.codecs import MAIN_SET_ONLY
from semclip.job.config import CodecsConfig, GridConfig, PromptStageConfig, ViewsConfig
from semclip.job.encode import EvalSet
from semclip.jscc.zoo import LINEAR_METHODS
from semclip.provenance import leak_note
from semclip.results import Record, Results, channel_label


def backbone_provenance(backbone: Backbone) -> dict:
    """What the backbone's trained parts saw, where semclip knows it (PocketCLIP's heads)."""
    heads = getattr(backbone, "heads_path", None)
    if heads is None:
        return {"component": "backbone", "notes": [f"{backbone.name}: see its model card for its training data"]}
    from safetensors import safe_open

    with safe_open(str(heads), "pt") as f:
        meta = f.metadata() or {}
    sizes = json.loads(meta.get("train_sizes", "{}"))
    notes = ["trained on " + ", ".join(f"{n} {name}" for name, n in sizes.items()) + " images (towers frozen)"]
    if "fashion-mnist-train" in sizes:
        notes.append("saw Fashion-MNIST training images captioned with the official class names: its Fashion-MNIST "
                     "zero-shot is seen concepts on unseen images (benchmarks/backbone_knowledge.py measures synonyms)")
    return {"component": "pocketclip-heads", "sha": meta.get("sha"), "train_sizes": sizes, "notes": notes}


def links_markdown(specs: list[str]) -> str:
    """What the OFDM links of the table are, and what a symbol costs on them."""
    if not specs:
        return ""
    rows = []
    for spec in specs:
        c = getattr(create_channel(spec), "cfg", None)  # an OFDM link's settings
        if c is None:
            rows.append(f"`{spec}`")
            continue
        rows.append(f"`{spec}`: {c.model.upper()}-{c.profile} {c.delay_spread_ns:g} ns, {c.speed_kmh:g} km/h at {c.carrier_ghz:g} GHz, "
                    f"{c.scs_khz:g} kHz x {c.fft_size} subcarriers, CP {c.cp_length}, pilots on OFDM symbols "
                    f"{list(c.pilot_symbols)} of {c.symbols} (overhead {c.pilot_overhead:.1%}), {c.csi.upper()} CSI, "
                    f"{c.equalizer.upper()}: one symbol costs {c.charge:.3f} channel uses")
    return ("\n## OFDM links\n\nsemclip and pca on the main set over 3GPP TR 38.901 links (Sionna's models; "
            "`docs/channels.md`), in the table above and in `accuracy_vs_snr_ofdm.png`. The channel uses there include the "
            "pilots' and the cyclic prefix's share; SNR is per resource element.\n\n" + "\n".join(f"- {r}" for r in rows) + "\n")


def link_names(specs: list[str]) -> set[str]:
    """The records' channel names of the OFDM links ``specs`` (no baseline runs on them yet)."""
    return {create_channel(spec).name for spec in specs}


def snr_plots(results: Results, evals: list[EvalSet], link_specs: list[str], out: Path) -> None:
    """Accuracy against SNR per evaluation set (the OFDM links of the main set apart, in
    accuracy_vs_snr_ofdm.png), and against k."""
    main = evals[0].data.name
    links = link_names(link_specs)
    for i, e in enumerate(evals):
        mine = [r for r in results.records if (r.dataset or main) == e.data.name]
        view = results.model_copy(update={"dataset": e.data.name, "records": [r for r in mine if r.channel not in links]})
        name = "accuracy_vs_snr.png" if i == 0 else f"accuracy_vs_snr_{e.data.name}.png"
        plot_accuracy_vs_snr(view, out / name, chance=1.0 / len(e.data.classes))
        if i == 0 and links:
            on_links = [r for r in mine if r.channel in links or r.channel == "none"]
            plot_accuracy_vs_snr(results.model_copy(update={"records": on_links}), out / "accuracy_vs_snr_ofdm.png",
                                 chance=1.0 / len(e.data.classes))
    plot_accuracy_vs_k(results.records, out / "accuracy_vs_k.png")


def write_results_page(results: Results, evals: list[EvalSet], train: LabelledImages, out: Path, grid: GridConfig, codecs: CodecsConfig,
                 prompts: PromptStageConfig, bcfg: BaselineConfig, views: ViewsConfig) -> None:
    """results.md and the figures, from the records."""
    records = results.records
    main = evals[0].data
    snr_plots(results, evals, grid.links, out)
    summary = getattr(train, "summary", None)
    md = (
        f"# SemCLIP demo, backbone {results.backbone}\n\n"
        f"Token codec: one checkpoint serving k in {grid.ks} complex channel uses per image (tables at k = {grid.k}), trained on "
        f"{summary() if summary else f'{len(train)} images of {train.name}'}. `pca` is the linear code fitted on the same "
        "corpus with the power allocation optimal for its linear MMSE receiver at each SNR, `pca-flat` the same code without "
        "it; `semclip-adapted` the same codec with its transmitter adapted on unlabelled images of the main set's "
        f"training split ({codecs.adapt_dataset}: no labels, no class names; the receiver unchanged); `semclip-indomain` "
        "the same recipe plus the main set's training images (the price of universality).\n"
    )
    md += artefacts_markdown(results.model_extra.get("artefacts", []))
    if results.provenance["leaks"]:
        md += f"\n**{leak_note(results.provenance['leaks'])}**\n"
    for e in evals:
        view = results.model_copy(update={"records": [r for r in records if (r.dataset or main.name) == e.data.name]})
        md += (f"\n## {e.data.name}: zero-shot top-1 ({len(e.data)} images, {len(e.data.classes)} classes, chance "
               f"{1 / len(e.data.classes):.3f})\n\n" + markdown_table(view))
    md += links_markdown(grid.links)
    md += k_sweep_markdown(records, grid.k_sweep_snr_db)
    md += "".join(floor_markdown(records, floor=m) for m in LINEAR_METHODS)
    md += retrieval_markdown([r for r in records if r.k in (None, grid.k)])
    if bcfg.methods:
        links = link_names(grid.links)
        on_main = [r for r in records if (r.dataset or main.name) == main.name and r.method not in (*LINEAR_METHODS, *MAIN_SET_ONLY)
                   and r.channel not in links]
        md += (baseline_notes(results) + comparison_markdown(on_main, 1.0 / len(main.classes)) + views_markdown(on_main, grid.k)
               + claims_markdown(on_main, 1.0 / len(main.classes), grid.k))
        if views.enabled:
            plot_equal_energy(on_main, out / "accuracy_vs_energy.png", BASELINE_METHODS)
            plot_equal_bandwidth(on_main, out / "accuracy_vs_bandwidth.png", BASELINE_METHODS)
        if "jpeg_min_channel_uses" in results.model_extra:
            md += (
                f"\nThe smallest JPEG of each image ({results.jpeg_min_channel_uses.get('side', '?')} px, quality 1, "
                f"{results.jpeg_min_channel_uses['mcs']}, the table's most "
                f"efficient MCS) would need {results.jpeg_min_channel_uses['mean']:.0f} channel uses per image on average: the "
                f"least any JPEG-over-LDPC link needs, {results.jpeg_min_channel_uses['mean'] / grid.k:.1f}x semclip's {grid.k}. "
                "Sent error-free at AWGN capacity it would need, per SNR: "
                + ", ".join(f"{v:g} at {snr} dB" for snr, v in results.jpeg_min_channel_uses["at_capacity_awgn"].items()) + ".\n"
            )
    if prompts.learners:
        b2n = [r for r in records if r.split in ("base", "novel")]
        rows = summarize(b2n + harmonic_records(b2n))
        plot_protocol(rows, out / "base_to_novel.png")
        md += (
            "\n## Base-to-novel (receiver prompt learning)\n\nPrompts trained on "
            f"{prompts.train.shots} shots of each base class (first half of the classes) from {prompts.shots_dataset}, "
            f"seed {grid.seed}; 'hm' is the harmonic mean of base and novel.\n" + summary_markdown(rows)
        )
    atomic_write_text(out / "results.md", md)


def artefacts_markdown(used: Sequence[dict]) -> str:
    """Where each trained part of the run came from: trained by it, read from the cache, or
    shipped with semclip (regenerated by ``scripts/ship_artefacts.py``)."""
    return table_section(
        "Trained parts and where they came from",
        "Each trained part behind this run's results: shipped with semclip (`scripts/ship_artefacts.py` regenerates "
        "them), read from the cache, or trained by this run (results read back from the cache list the parts that made them).",
        ["part", "from", "file"], [[u["what"], u["origin"], f"`{u['name']}`"] for u in used])


def table_section(title: str, intro: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A results.md section: heading, one paragraph, a table; nothing when there are no rows."""
    if not rows:
        return ""
    lines = [f"\n## {title}\n", intro + "\n", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def k_sweep_markdown(records: Sequence[Record], snr_db: float) -> str:
    """Top-1 (and retrieval R@1) against k at one SNR: rows (dataset, method), columns k."""
    recs = [r for r in records if r.view == "k-sweep" or (r.task == "retrieval" and r.k is not None and r.snr_db == snr_db
                                                             and r.channel == "awgn" and r.view == "image-to-text" and r.metric == "r@1")]
    if not recs:
        return ""
    ks = sorted({r.k for r in recs})
    clean = {(r.dataset, r.task, r.view, r.metric): r.value for r in records if r.method == "clean"}
    md = [f"\n## Accuracy against bandwidth (AWGN, {snr_db:g} dB)\n", "| dataset | task | method | " + " | ".join(f"k={k}" for k in ks) + " | clean |",
          "|---|---|---|" + "---|" * (len(ks) + 1)]
    for key in dict.fromkeys((r.dataset, r.task, r.view, r.metric, r.method) for r in recs):
        by = {r.k: r.value for r in recs if (r.dataset, r.task, r.view, r.metric, r.method) == key}
        task = "top-1" if key[1] != "retrieval" else "image-to-text R@1"
        ref = clean.get((key[0], key[1], "all" if key[1] != "retrieval" else key[2], key[3]))
        md.append(f"| {key[0]} | {task} | {key[4]} | " + " | ".join(f"{by[k]:.3f}" if k in by else "" for k in ks)
                  + f" | {'' if ref is None else f'{ref:.3f}'} |")
    return "\n".join(md) + "\n"


def jpeg_floor(bcfg: BaselineConfig, snrs_db: Sequence[float], test: LabelledImages) -> dict:
    """Mean channel uses of each baseline test image's smallest JPEG (smallest side,
    quality 1) at the most efficient MCS."""
    from semclip.baselines.jpeg import JpegImage, default_sides
    from semclip.baselines.jpeg_source import min_jpeg_channel_uses, smallest_jpeg_bits
    from semclip.channels.base import Channel

    n = min(bcfg.limit or len(test), len(test))
    table = bcfg.mcs_table
    jpegs = [JpegImage.of(im, bcfg.jpeg_sides or default_sides(im.size)) for im in (test.image(i) for i in range(n))]
    bits = sum(smallest_jpeg_bits(j) for j in jpegs) / n
    return {
        "mean": round(min_jpeg_channel_uses(jpegs, table), 1),
        "mcs": max(table, key=lambda m: m.efficiency).name,
        "side": min(jpegs[0].sides),
        "at_capacity_awgn": {f"{s:g}": round(bits / Channel.capacity(s), 1) for s in snrs_db},
    }


def baseline_notes(results: Results) -> str:
    """Which MCS / bit width each digital baseline chose per SNR."""
    recs = [r for r in results.records if r.detail and r.on_grid and r.method in ("image-jpeg-ldpc", "token-digital")]
    return table_section(
        "What the digital baselines chose",
        "Link adaptation `bler`: the most efficient MCS whose block error rate on random payloads meets the target "
        "(no test label is read); `oracle`: the best by accuracy on the test labels (`--link-adaptation oracle`). Each image's JPEG "
        "side and quality: among the sides that fit the payload, the least pixel error against the original (the "
        "transmitter's rate-distortion choice, no label read); the receiver upscales the picture.",
        ["method", "channel", "SNR (dB)", "link adaptation", "choice"],
        [[r.method, channel_label(r), f"{r.snr_db:g}", r.link_adaptation, r.detail] for r in recs])


