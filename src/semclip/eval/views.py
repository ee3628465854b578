"""The two fair views of semclip against the baselines, from records alone.

A per-symbol SNR hides unequal resources: at the same SNR, a baseline occupying 1024
channel uses spends 64x (18 dB) more energy per image than semclip's 16. So the
comparison is also made

- at **equal energy**: every method against its energy per image, E/N0 = k x SNR
  (dB: SNR + 10 log10 k), and semclip run on the baselines' images at the SNR that gives
  it each baseline point's energy (``equal_energy_snrs``);
- at **equal bandwidth**: every method against its channel uses per image at a few fixed
  SNRs, semclip at each k it serves, the image baselines at several budgets, token-digital
  at each bit width.

Differences come with a 95 % interval: paired (bootstrap over the shared images) where
both records carry per-image outcomes, Newcombe's otherwise; a gain or loss is one whose
interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from semclip.results import Record, channel_label
from semclip.stats import newcombe, paired_bootstrap, unpack_outcomes

IMAGE_METHODS = ("image-jpeg-ldpc", "image-capacity", "image-outage", "image-jscc")  # what semclip's claims are against (not image-ergodic: a long-delay reference)
BASELINE_METHODS = (*IMAGE_METHODS, "image-ergodic", "image-jscc-indomain", "token-digital")  # references: image-ergodic (long delay), image-jscc-indomain (saw the domain)
VIEW_SNRS = (-5.0, 0.0, 10.0)
VIEW_BUDGETS = (64, 128, 256, 512, 1024, 2048)
ENERGY_VIEW = "equal-energy"
BANDWIDTH_VIEW = "bandwidth"


def energy_db(r: Record) -> float:
    """Energy per image over N0, in dB: SNR + 10 log10(channel uses)."""
    return r.snr_db + 10 * math.log10(r.channel_uses_per_image)


def difference(a: Record, b: Record) -> tuple[float, float, float, str]:
    """a - b with its 95 % interval and how it was made: ``paired`` (bootstrap over the
    same images) where both carry outcomes on as many images, ``independent`` (Newcombe)
    otherwise."""
    d = a.value - b.value
    if a.outcomes and b.outcomes and a.n and a.n == b.n:
        lo, hi = paired_bootstrap(unpack_outcomes(a.outcomes, a.n), unpack_outcomes(b.outcomes, b.n))
        return d, lo, hi, "paired"
    lo, hi = newcombe(a.value, a.n or 1, b.value, b.n or 1)
    return d, lo, hi, "independent"


def verdict(lo: float, hi: float) -> str:
    return "gain" if lo > 0 else "loss" if hi < 0 else "no difference shown"


def equal_energy_snrs(baselines: Sequence[Record], uses: float) -> dict[float, float]:
    """{SNR at which a method of ``uses`` channel uses per image (k, or k times an OFDM
    link's charge) spends a baseline point's energy: that point's SNR}."""
    out: dict[float, float] = {}
    for r in baselines:
        if r.snr_db is not None and r.channel_uses_per_image > 0:
            out.setdefault(round(r.snr_db + 10 * math.log10(r.channel_uses_per_image / uses), 4), r.snr_db)
    return dict(sorted(out.items()))


def _matches(a: Record, b: Record) -> bool:
    return channel_label(a) == channel_label(b) and abs(energy_db(a) - energy_db(b)) < 1e-3


def equal_energy_rows(records: Sequence[Record], reference: str = "semclip") -> list[dict]:
    """Per baseline point (method, channel, SNR): the reference at the same energy per image
    on the same images, and the difference."""
    refs = [r for r in records if r.method == reference and r.view == ENERGY_VIEW]
    rows = []
    for b in records:
        if b.method not in BASELINE_METHODS or not b.on_grid or b.snr_db is None:
            continue
        ref = next((r for r in refs if _matches(r, b)), None)
        if ref is None:
            continue
        d, lo, hi, how = difference(ref, b)
        rows.append({"channel": channel_label(b), "method": b.method, "snr_db": b.snr_db, "channel_uses": b.channel_uses_per_image,
                     "energy_db": round(energy_db(b), 2), "reference_snr_db": ref.snr_db, reference: ref.value, "baseline": b.value,
                     "difference": d, "ci95": (lo, hi), "interval": how})
    return rows


def energy_claims(rows: Sequence[dict], methods: Sequence[str] = IMAGE_METHODS) -> list[dict]:
    """Per (channel, baseline SNR): the image baseline semclip does worst against at equal
    energy (the smallest lower bound), i.e. semclip beats every one where that is a gain."""
    out = {}
    for r in rows:
        if r["method"] in methods:
            key = (r["channel"], r["snr_db"])
            if key not in out or r["ci95"][0] < out[key]["ci95"][0]:
                out[key] = r
    return [out[k] for k in sorted(out)]


def bandwidth_claims(records: Sequence[Record], k: int, reference: str = "semclip") -> list[dict]:
    """Per (channel, view SNR): the reference at its k against the best image baseline at the
    smallest budget they share (equal bandwidth: the same channel uses), and the smallest
    budget at which an image baseline reaches the reference's accuracy at ``k`` (the
    bandwidth ratio at equal accuracy; None where no budget of the view does)."""
    view = [r for r in records if r.view == BANDWIDTH_VIEW]
    out = []
    for ch, snr in sorted({(channel_label(r), r.snr_db) for r in view if r.method == reference}):
        here = [r for r in view if (channel_label(r), r.snr_db) == (ch, snr)]
        ref = next((r for r in here if r.method == reference and r.k == k), None)
        imgs = [r for r in here if r.method in IMAGE_METHODS]
        if ref is None or not imgs:
            continue
        served = {r.channel_uses_per_image: r for r in here if r.method == reference}
        # the same uses, to the rounding of each record's charged uses (an OFDM link's 64 x 1.249: 79.92 and 79.9)
        common = sorted(u for u in served if any(same_uses(u, r.channel_uses_per_image) for r in imgs))
        row = {"channel": ch, "snr_db": snr, reference: ref.value, "k": k, "reference_uses": ref.channel_uses_per_image}
        if common:
            uses = common[0]
            best = max((r for r in imgs if same_uses(uses, r.channel_uses_per_image)), key=lambda r: r.value)
            d, lo, hi, how = difference(served[uses], best)
            row |= {"uses": uses, "reference_at_uses": served[uses].value, "best": best.method, "best_acc": best.value,
                    "difference": d, "ci95": (lo, hi), "interval": how}
        reach = sorted(r.channel_uses_per_image for r in imgs if r.value >= ref.value)
        row["uses_to_match"] = reach[0] if reach else None
        # its 95 % range: from the first budget where an image baseline is no longer shown below
        # the reference (interval of reference - baseline reaching zero) to the first where it is shown above
        diffs = [(r.channel_uses_per_image, difference(ref, r)) for r in imgs]
        not_below = sorted(u for u, d in diffs if d[1] <= 0)
        above = sorted(u for u, d in diffs if d[2] < 0)
        row["uses_to_match_range"] = (not_below[0] if not_below else None, above[0] if above else None)
        row["largest_budget"] = max(r.channel_uses_per_image for r in imgs)
        out.append(row)
    return out


def same_uses(a: float, b: float) -> bool:
    """Equal channel uses, to the 0.1 % that records' rounding leaves."""
    return abs(a - b) <= 1e-3 * max(a, b)


def uses_to_match(c: dict) -> str:
    """'512 (32x)', or '> 2048 (> 128x)': a bandwidth claim's smallest matching budget and its
    ratio to the reference's own channel uses (k, or k times an OFDM link's charge)."""
    u, big, ref = c["uses_to_match"], c["largest_budget"], c["reference_uses"]
    return f"{u:g} ({u / ref:.0f}x)" if u else f"> {big:g} (> {big / ref:.0f}x)"


def uses_range(c: dict) -> str:
    """'98–256 uses (6–16x)' from a bandwidth claim's ``uses_to_match_range``, the ratios to
    the reference's own channel uses."""
    lo, hi = c["uses_to_match_range"]
    big, ref = c["largest_budget"], c["reference_uses"]
    lo_t, hi_t = (f"{lo:g}" if lo else f">{big:g}"), (f"{hi:g}" if hi else f">{big:g}")
    return f"{lo_t}–{hi_t} uses ({lo_t if not lo else f'{lo / ref:.0f}'}–{hi_t if not hi else f'{hi / ref:.0f}'}x)"


def _cell(d: float, lo: float, hi: float) -> str:
    return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def views_markdown(records: Sequence[Record], k: int, reference: str = "semclip") -> str:
    """The equal-energy and equal-bandwidth sections of results.md, with their claims."""
    md = ""
    rows = equal_energy_rows(records, reference)
    if rows:
        methods = list(dict.fromkeys(r["method"] for r in rows))
        md += (
            "\n## Equal energy\n\n"
            f"Each baseline point against {reference} given the same energy per image (E/N0 = SNR + 10 log10 uses): "
            f"{reference} at k = {k} runs at SNR + 10 log10(uses / its own uses) on the same images (fading: the same fades; "
            f"on an OFDM link both sides' uses include the pilots' and the prefix's share). "
            f"Cells: {reference} - baseline, with a 95 % interval (paired bootstrap over the images); SNR is the baseline's.\n\n"
            "| channel | SNR (dB) | " + " | ".join(methods) + " |\n|---|---|" + "---|" * len(methods) + "\n"
        )
        for ch, snr in dict.fromkeys((r["channel"], r["snr_db"]) for r in rows):
            by = {r["method"]: r for r in rows if (r["channel"], r["snr_db"]) == (ch, snr)}
            md += f"| {ch} | {snr:g} | " + " | ".join(_cell(by[m]["difference"], *by[m]["ci95"]) if m in by else "" for m in methods) + " |\n"
        claims = energy_claims(rows)
        wins = [c for c in claims if c["ci95"][0] > 0]
        md += (f"\nAt equal energy {reference} beats every image baseline (interval above zero) at {len(wins)} of {len(claims)} points"
               + (": " + ", ".join(f"{c['channel']} {c['snr_db']:g} dB" for c in wins) if wins else "") + ".\n")
    claims = bandwidth_claims(records, k, reference)
    if claims:
        md += (
            "\n## Equal bandwidth\n\n"
            f"At fixed SNRs, {reference} at each k it serves, the image baselines at budgets of channel uses, token-digital at "
            f"each bit width (`accuracy_vs_bandwidth.png`), on the first {next(r.n for r in records if r.view == BANDWIDTH_VIEW)} "
            f"test images. 'same uses': {reference} against the best image baseline at the smallest budget both occupy; "
            f"'uses to match': the smallest budget at which an image baseline reaches {reference}'s accuracy at k = {k}, "
            f"its ratio to {reference}'s channel uses there, and in brackets the range from the first budget where an image baseline is no longer shown "
            "below it to the first where one is shown above it (paired 95 % intervals; '>' where no budget of the view is).\n\n"
            f"| channel | SNR (dB) | {reference} at k={k} | same uses | {reference} there | best image baseline there | "
            "difference [95 % interval] | verdict | uses to match (ratio) |\n|---|---|---|---|---|---|---|---|---|\n"
        )
        for c in claims:
            same = (f"{c['uses']:g} | {c['reference_at_uses']:.3f} | {c['best']} {c['best_acc']:.3f} | "
                    f"{_cell(c['difference'], *c['ci95'])} | {verdict(*c['ci95'])}") if "uses" in c else "| | | | "
            match = f"{uses_to_match(c)} [{uses_range(c)}]"
            md += f"| {c['channel']} | {c['snr_db']:g} | {c[reference]:.3f} | {same} | {match} |\n"
    return md
