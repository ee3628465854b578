"""The views stage: semclip against the baselines at equal energy per image (semclip run on
the baselines' images at the SNR that gives it each baseline point's energy, view
'equal-energy') and at equal bandwidth (accuracy against channel uses at a few SNRs, view
'bandwidth')."""

from __future__ import annotations

from dataclasses import replace

from semclip.baselines.common import BaselineConfig
from semclip.baselines.run import run_baselines
from semclip.channels.registry import create_channel
from semclip.eval.sweep import sweep
from semclip.eval.views import BANDWIDTH_VIEW, BASELINE_METHODS, ENERGY_VIEW, equal_energy_snrs
from semclip.job.baselines import BaselineOutcome
from semclip.job.codecs import Codes
from semclip.job.config import GridConfig, ViewsConfig
from semclip.results import Record, channel_label, condition_label


def equal_energy(grid: GridConfig, done: BaselineOutcome, codes: Codes) -> list[Record]:
    """semclip given each baseline point's energy per image, on its images and fades."""
    ctx, out = done.ctx, []
    for ch in grid.channels:
        jscc = codes.get("semclip", ch).model
        channel = create_channel(ch)
        label = condition_label(channel.name, channel.csi)  # as channel_label names its records
        # semclip's own channel uses there: k, or k times what a symbol costs on an OFDM link
        snrs = equal_energy_snrs([r for r in done.records if r.method in BASELINE_METHODS and channel_label(r) == label],
                                 jscc.cfg.k * channel.charge)
        recs = sweep(jscc, ctx.tokens, ctx.labels, lambda t, s: ctx.classifier.predict(t), [ch], list(snrs), view=ENERGY_VIEW,
                     seed=grid.seed, outcomes=True, fade_snrs_db=list(snrs.values()))
        out += [r.model_copy(update={"n_images": len(ctx.labels)}) for r in recs]
    return out


def equal_bandwidth(cfg: ViewsConfig, grid: GridConfig, bcfg: BaselineConfig, done: BaselineOutcome, codes: Codes,
                    log=print) -> list[Record]:
    """Accuracy against channel uses at ``cfg.snrs_db`` on the first ``cfg.limit`` baseline
    images: the image baselines at each budget of ``cfg.budgets``, image-jscc at its own,
    token-digital at each bit width, semclip at each k it serves."""
    ctx = done.ctx
    m = min(cfg.limit or len(ctx.labels), len(ctx.labels))
    small = replace(ctx, images=ctx.images[:m], labels=ctx.labels[:m], tokens=ctx.tokens[:m], dataset_id=f"{ctx.dataset_id}-first{m}",
                    jpegs=ctx.jpegs[:m] if ctx.jpegs else None)
    runs = [replace(bcfg, methods=[x for x in ("image-jpeg-ldpc", "image-capacity", "image-outage", "image-ergodic") if x in bcfg.methods], budget=b)
            for b in cfg.budgets]
    runs += [replace(bcfg, methods=[x for x in ("image-jscc", "image-jscc-indomain") if x in bcfg.methods])]
    runs += [replace(bcfg, methods=["token-digital"], token_bits=[b]) for b in bcfg.token_bits] if "token-digital" in bcfg.methods else []
    out = []
    for run in runs:
        if run.methods:
            out += run_baselines(small, replace(run, limit=m), grid.channels, cfg.snrs_db, log, receiver=done.receiver)
    for ch in grid.channels:
        jscc = codes.get("semclip", ch).model
        for k in grid.ks:
            out += sweep(jscc.at(k), small.tokens, small.labels, lambda t, s: small.classifier.predict(t), [ch], cfg.snrs_db,
                         view=BANDWIDTH_VIEW, seed=grid.seed, outcomes=True)
    return [r.model_copy(update={"view": BANDWIDTH_VIEW, "n_images": m}) for r in out]


def run_views(cfg: ViewsConfig, grid: GridConfig, bcfg: BaselineConfig, done: BaselineOutcome, codes: Codes, log=print) -> list[Record]:
    if not cfg.enabled:
        return []
    return equal_energy(grid, done, codes) + equal_bandwidth(cfg, grid, bcfg, done, codes, log)
