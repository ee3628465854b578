"""The baselines over a grid of channels and SNRs, each ending at the same receiver
(backbone + zero-shot classifier) as semclip and writing the same Record schema. The methods
(one file each under ``semclip/baselines/methods/``, listed by ``semclip list baselines``):

- ``image-jpeg-ldpc``: JPEG fitted to the budget -> CRC + 5G LDPC -> QAM, MCS by link adaptation;
- ``image-capacity``, ``image-outage`` and ``image-ergodic``: the same JPEG framing at the capacity,
  outage and ergodic bounds;
- ``image-jscc`` / ``image-jscc-indomain``: a pixel DeepJSCC, trained on the corpus / in domain;
- ``token-digital``: the clean token quantised -> CRC + LDPC -> QAM.

Each (method, channel) result is cached on disk once finished, so a rerun or a crashed
run only redoes what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from semclip._io import atomic_write_json, cache_dir
from semclip.baselines import probe_store
from semclip.baselines.common import BASELINES, Baseline, BaselineConfig, Context
from semclip.baselines.receiver import ImageReceiver
from semclip.digest import json_digest
from semclip.distributed import dist
from semclip.progress import progress
from semclip.results import Record


def _cache_file(cache: Path, method: Baseline, spec: str, snrs: Sequence[float], ctx: Context, cfg: BaselineConfig) -> Path:
    # not the list of methods: naming one more baseline must not redo the others
    key = json_digest([method.name, spec, list(snrs), ctx.backbone.fingerprint, ctx.dataset_id, ctx.seed,
                       asdict(cfg) | {"methods": None}, method.trained_on(ctx), "v5"], sort_keys=True)
    return cache / f"{method.name}-{spec.replace(':', '_')}-{key}.json"


def run_baselines(
    ctx: Context, cfg: BaselineConfig, channels: Sequence[str], snrs: Sequence[float], log=print, cache: Path | None = None,
    receiver: ImageReceiver | None = None,
) -> list[Record]:
    """Every configured baseline on every channel and SNR; finished (method, channel)
    pairs are read back from the cache. ``receiver``: one shared by several calls on the
    same images, so that a received picture's tokens are computed once. Under ``accelerate launch`` the (method, channel)
    pairs are split over the processes, each writes its own cache files, and every process
    then reads them all back in order: the records equal a one-process run."""
    cfg.validate()
    d = dist()
    cache = cache or cache_dir() / "baselines"
    methods = [BASELINES.create(name) for name in cfg.methods]
    todo = []  # (method, spec, cache file), in output order
    for method in methods:
        for spec in channels:
            if method.needs_csi and spec == "rayleigh:none":
                log(f"{method.name}: skipping {spec} (a digital receiver needs CSI)")
                continue
            todo.append((method, spec, _cache_file(cache, method, spec, snrs, ctx, cfg)))
    to_run = [t for t in todo if not t[2].exists()]
    missing = {m.name for m, _, _ in to_run}
    mine = {path for _, _, path in d.shard_items(to_run)}  # this process's share of what is missing
    receiver = receiver or ImageReceiver(ctx.backbone)
    # built before the progress display: each shows its own (rich nests no live displays)
    for method in methods:
        if method.name not in missing:  # read back: still list the trained parts that made them
            method.read_back(cfg, ctx)
            continue
        if d.is_main:  # trained once, by the main process; the others then load it
            method.prepare(cfg, ctx, log)
        d.barrier()
        if not d.is_main:
            method.prepare(cfg, ctx, log)
    with progress(disable=not d.is_main) as bar:
        for method, spec, path in todo:
            if path not in mine:
                continue
            task = bar.add_task(f"{method.name} over {spec}", total=len(snrs))
            with probe_store.recorded(path):
                recs = method.run(ctx, cfg, spec, snrs, receiver, lambda t=task: bar.advance(t))
            atomic_write_json(path, [r.model_dump() for r in recs])
    d.barrier()
    records: list[Record] = []
    for _, _, path in todo:
        records += [Record(**r) for r in json.loads(path.read_text())]
        probe_store.replay(path)  # read back (or made by another process): list the probe table if it decided them
    return records
