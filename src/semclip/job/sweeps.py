"""The sweeps stage: zero-shot top-1 of every code on every evaluation set, with the
hand-crafted receiver: the channel x SNR grid at ``grid.k`` (view 'all'; on the OFDM links
``grid.links``, semclip and pca on the main set) and the k sweep at
``grid.k_sweep_snr_db`` on AWGN (view 'k-sweep'). Each sweep is computed once per content
(``semclip.eval.memo``) and read back on reruns."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from semclip.device import of as device_of
from semclip.eval.memo import memo_records
from semclip.eval.sweep import sweep
from semclip.job.codecs import MAIN_SET_ONLY, Codes
from semclip.job.config import LINK_METHODS, GridConfig
from semclip.job.encode import EvalSet
from semclip.results import Record
from semclip.tasks.zeroshot import top1_accuracy


def sweep_codes(grid: GridConfig, codes: Codes, evals: list[EvalSet]) -> list[Record]:
    records = []
    for i, e in enumerate(evals):
        clean = top1_accuracy(e.classifier.predict(e.tokens), e.labels)
        records.append(Record(method="clean", channel="none", snr_db=None, value=clean, channel_uses_per_image=0, dataset=e.data.name,
                              n=len(e.labels)))
        for method in codes.methods():
            if method in MAIN_SET_ONLY and i > 0:
                continue  # the reference and the adapted codec are about the main set's domain
            links = grid.links if i == 0 and method in LINK_METHODS else []  # the OFDM links: main set, two codes
            for ch in [*grid.channels, *links]:
                code = codes.find(method, ch)
                if code is not None:
                    records += sweep_once(code.model, e, ch, grid.snrs_db, method, "all", grid.seed)
            code = codes.find(method, "awgn")
            if code is not None:
                for k in grid.ks:
                    records += sweep_once(code.model.at(k), e, "awgn", [grid.k_sweep_snr_db], method, "k-sweep", grid.seed)
    return records


def sweep_once(code: nn.Module, e: EvalSet, channel: str, snrs_db: Sequence[float], method: str, view: str, seed: int) -> list[Record]:
    """One code on one evaluation set with the hand-crafted receiver, over ``channel`` at
    ``snrs_db``; computed once per content (``semclip.eval.memo``), read back on reruns."""
    def compute() -> list[Record]:
        return sweep(code, e.tokens, e.labels, lambda t, s: e.classifier.predict(t), [channel], snrs_db,
                     method=method, view=view, seed=seed, outcomes=True)

    key = [code, code.cfg, e.tokens, e.labels, e.classifier.weights, channel, list(snrs_db), method, view, seed,
           device_of(code).type, "outcomes"]
    return [r.model_copy(update={"dataset": e.data.name}) for r in memo_records("sweep", key, compute)]
