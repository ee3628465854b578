"""The retrieval stage: image-text retrieval with received tokens on a captioned set, per
channel and SNR at ``grid.k`` and against k at ``grid.k_sweep_snr_db`` (AWGN), for every
token code; token-digital too when it is among the baselines (cached once computed)."""

from __future__ import annotations

import json
from collections.abc import Callable

from semclip._io import atomic_write_json, cache_dir
from semclip.backbones.base import Backbone
from semclip.baselines import probe_store
from semclip.baselines.common import BaselineConfig
from semclip.baselines.quantize import TokenQuantizer
from semclip.data.registry import create_dataset
from semclip.digest import json_digest
from semclip.eval.retrieval import sweep_retrieval, sweep_retrieval_digital
from semclip.job.codecs import Codes
from semclip.job.config import DataConfig, GridConfig, RetrievalConfig
from semclip.results import Record
from semclip.tasks.retrieval import CaptionIndex
from semclip.tokens.cache import dataset_tokens


def run_retrieval(cfg: RetrievalConfig, grid: GridConfig, backbone: Backbone, codes: Codes, bcfg: BaselineConfig, data_cfg: DataConfig,
                  quantizer: Callable[[int], TokenQuantizer], log=print) -> list[Record]:
    """``data_cfg``: the codec's training images, which the token-digital quantiser is fitted
    on (part of its cache key)."""
    if not cfg.dataset:
        return []
    data = create_dataset(cfg.dataset)  # validate() checked it has captions
    tokens, _ = dataset_tokens(backbone, data)
    index = CaptionIndex(backbone, data.captions())
    records: list[Record] = []
    for method in codes.methods():
        for ch in grid.channels:
            code = codes.find(method, ch)
            if code is not None:
                recs = sweep_retrieval(code.model, tokens, index, [ch], grid.snrs_db, data.name, method=method, seed=grid.seed)
                records += recs if not records else [r for r in recs if r.method != "clean"]
        code = codes.find(method, "awgn")
        if code is not None:
            for k in grid.ks:
                if k != grid.k:
                    recs = sweep_retrieval(code.model.at(k), tokens, index, ["awgn"], [grid.k_sweep_snr_db], data.name, method=method,
                                           seed=grid.seed)
                    records += [r for r in recs if r.method != "clean"]
    if "token-digital" not in bcfg.methods:
        return records
    key = json_digest([backbone.fingerprint, data.cache_id, grid.channels, grid.snrs_db, grid.seed, data_cfg.train_dataset,
                       data_cfg.train_limit, bcfg.target_bler, bcfg.probe_payloads, "retrieval-v5"])
    path = cache_dir() / "baselines" / f"retrieval-token-digital-{key}.json"
    if path.exists():
        quantizer(1)  # read back: still list the parts that made it
        probe_store.replay(path)
        return records + [Record(**r) for r in json.loads(path.read_text())]
    log("token-digital retrieval (one LDPC link per point)")
    with probe_store.recorded(path):
        recs = sweep_retrieval_digital(tokens, quantizer(1), index, grid.channels, grid.snrs_db, data.name, grid.seed,
                                       target_bler=bcfg.target_bler, probe_payloads=bcfg.probe_payloads)
    atomic_write_json(path, [r.model_dump() for r in recs])
    return records + recs
