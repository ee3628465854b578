"""Accuracy over a grid of channels and SNRs, from cached tokens: each point costs one
pass of the small codec and the receiver, never the image backbone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from semclip.channels.registry import create_channel
from semclip.device import generator, of as device_of
from semclip.distributed import dist
from semclip.results import Record
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import TokenJSCC
from semclip.stats import pack_outcomes
from semclip.tasks.zeroshot import ZeroShotClassifier, correct

TokenCode = TokenJSCC | LinearCode  # anything with cfg.k and forward(tokens, snr_db, channel) -> (decoded, ChannelOutput)

# (received tokens [B, d] L2-normalised, SNR known at the receiver [B, 1]) -> predictions [B]
Receiver = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()  # not inference_mode: a learner may cache tensors that training reuses
def sweep(
    jscc: TokenCode,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    receiver: Receiver,
    channels: Sequence[str],
    snrs_db: Sequence[float],
    method: str = "semclip",
    split: str = "all",
    seed: int = 0,
    batch_size: int = 4096,
    outcomes: bool = False,
    fade_snrs_db: Sequence[float] | None = None,
    view: str = "all",
) -> list[Record]:
    """One record per (channel, SNR), of the classes ``split`` and the measurement ``view``
    (``semclip.results.Record``). The same seed gives every method the same noise.
    ``outcomes``: each record also carries which images were right (for paired
    comparisons). ``fade_snrs_db``: per point, the SNR whose common fades it draws (default
    its own): a point compared with a baseline at another SNR (equal energy) fades as it does.

    Runs where ``jscc`` lives; ``tokens`` (a tensor or a memory-mapped store) are moved
    there a batch at a time. Under ``accelerate launch`` every process draws the whole
    batch's channel (cheap) and runs the receiver, the costly part, on its own slice of the
    rows; the predictions are gathered, so every process returns the records a single
    process would."""
    d = dist()
    dev = device_of(jscc)
    records = []
    for ch in channels:
        gen = generator(seed, dev)
        channel = create_channel(ch, generator=gen)
        for snr, fade_snr in zip(snrs_db, fade_snrs_db or snrs_db, strict=True):
            preds = []
            h = channel.common_fades(seed, fade_snr, tokens.shape[0], dev)  # shared by every method
            for s in range(0, tokens.shape[0], batch_size):
                t = tokens[s : s + batch_size].to(dev)
                with channel.gains(None if h is None else h[s : s + t.shape[0]]):
                    decoded, out = jscc(t, torch.full((t.shape[0], 1), float(snr), device=dev), channel)
                rows = torch.tensor_split(torch.arange(t.shape[0], device=dev), d.world)[d.rank]
                mine = receiver(F.normalize(decoded[rows], dim=-1), out.rx_snr_db[rows]).cpu()
                preds.append(torch.cat(d.gather_items([mine])) if d.world > 1 else mine)
            right = correct(torch.cat(preds), labels)
            records.append(Record(method=method, split=split, view=view, snr_db=float(snr), value=float(right.float().mean()),
                                  k=jscc.cfg.k, **channel.sent(jscc.cfg.k), n=len(labels),
                                  outcomes=pack_outcomes(right.tolist()) if outcomes else None))
    return records


def sweep_semclip(
    jscc: TokenCode,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    classifier: ZeroShotClassifier,
    channels: Sequence[str],
    snrs_db: Sequence[float],
    method: str = "semclip",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[Record]:
    """The hand-crafted receiver (template ensemble, SNR-blind) over the grid."""
    return sweep(jscc, tokens, labels, lambda t, s: classifier.predict(t), channels, snrs_db, method, "all", seed, batch_size)
