"""Retrieval over a grid of channels and SNRs, from cached tokens (task "retrieval",
split = direction, metrics r@1, r@5, r@10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from semclip.channels.base import Channel
from semclip.channels.registry import create_channel
from semclip.device import generator, of as device_of
from semclip.distributed import dist
from semclip.results import Record
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import TokenJSCC
from semclip.tasks.retrieval import CaptionIndex

if TYPE_CHECKING:  # baselines come after eval in the library's order
    from semclip.baselines.quantize import TokenQuantizer


def _records(method, channel: Channel | None, snr, symbols, recall, dataset, index: CaptionIndex, k=None, receiver=None,
             link_adaptation=None) -> list[Record]:
    """One record per direction and metric; ``channel`` None: noiseless. ``symbols`` sent per
    image, charged as the channel charges them (an OFDM link: pilots and prefix)."""
    queries = {"image-to-text": len(index.target), "text-to-image": len(index.texts)}
    sent = dict(channel="none", csi=None, channel_uses_per_image=0) if channel is None else channel.sent(symbols)
    return [
        Record(method=method, task="retrieval", view=direction, snr_db=snr, metric=m, value=v, dataset=dataset, k=k,
               receiver=receiver, n=queries[direction], link_adaptation=link_adaptation, **sent)
        for direction, metrics in recall.items() for m, v in metrics.items()
    ]


@torch.no_grad()
def sweep_retrieval(
    jscc: TokenJSCC | LinearCode, tokens: torch.Tensor, index: CaptionIndex, channels: Sequence[str], snrs_db: Sequence[float],
    dataset: str, method: str = "semclip", seed: int = 0,
) -> list[Record]:
    """Noiseless records (method 'clean') plus one set per (channel, SNR), where ``jscc``
    lives; channels split over the processes of a launch as in ``sweep``."""
    d, dev = dist(), device_of(jscc)
    tokens = tokens.to(dev)
    mine = []
    for ch in d.shard_items(list(channels)):
        channel = create_channel(ch, generator=generator(seed, dev))
        recs = []
        for snr in snrs_db:
            h = channel.common_fades(seed, snr, tokens.shape[0], dev)  # shared by every method
            with channel.gains(h):
                received = jscc.transmit(tokens, torch.full((tokens.shape[0], 1), float(snr), device=dev), channel)
            recs += _records(method, channel, float(snr), jscc.cfg.k, index.recall(received), dataset, index, jscc.cfg.k)
        mine.append(recs)
    clean = _records("clean", None, None, 0, index.recall(tokens), dataset, index)
    return clean + [r for recs in d.gather_items(mine) for r in recs]


def retrieval_markdown(records: Sequence[Record]) -> str:
    """One table per direction: rows (method, channel, metric), columns SNR."""
    recs = [r for r in records if r.task == "retrieval"]
    if not recs:
        return ""
    snrs = sorted({r.snr_db for r in recs if r.snr_db is not None})
    dataset = recs[0].dataset
    md = [f"\n## Retrieval ({dataset}, received tokens against captions)\n"]
    for direction in dict.fromkeys(r.view for r in recs):
        md += [f"\n### {direction}\n", "| method | channel | metric | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
               "|---|---|---|" + "---|" * len(snrs)]
        here = [r for r in recs if r.view == direction]
        for key in dict.fromkeys((r.method, r.channel, r.csi, r.metric) for r in here):
            by = {r.snr_db: r.value for r in here if (r.method, r.channel, r.csi, r.metric) == key}
            ch = f"{key[1]} ({key[2]})" if key[2] else key[1]
            cells = [f"{by[None]:.3f}"] * len(snrs) if None in by else [f"{by[s]:.3f}" if s in by else "" for s in snrs]
            md.append(f"| {key[0]} | {ch} | {key[3]} | " + " | ".join(cells) + " |")
    return "\n".join(md) + "\n"


@torch.no_grad()
def sweep_retrieval_digital(
    tokens: torch.Tensor, quant: TokenQuantizer, index: CaptionIndex, channels: Sequence[str],
    snrs_db: Sequence[float], dataset: str, seed: int = 0, batch_size: int = 125, target_bler: float = 0.1,
    probe_payloads: int = 200,
) -> list[Record]:
    """token-digital for retrieval: the token quantised by ``quant`` (fitted on training
    tokens) over CRC + LDPC + QAM, the MCS per point by the same label-free link adaptation
    as classification's (BLER of random payloads against ``target_bler``); failed blocks
    keep the decoder's hard bits."""
    from semclip.baselines.adaptation import select_mcs
    from semclip.baselines.digital import DEFAULT_MCS, MCS, BlockPlan, DigitalLink, coherent_channel

    payload = quant.encode(tokens)
    links = {m: DigitalLink(BlockPlan.for_payload(quant.payload_bits, m)) for m in sorted(
        (MCS.parse(s) for s in DEFAULT_MCS), key=lambda m: (m.efficiency, m.bits_per_symbol))}
    records = []
    for ch in channels:
        if ch == "rayleigh:none":
            continue  # coherent QAM needs CSI
        channel = coherent_channel(ch, generator(seed))  # the chain equalises by zero forcing: its `receiver`
        label = create_channel(ch)
        for snr in snrs_db:
            mcs, _ = select_mcs(links, ch, snr, target_bler, probe_payloads, seed, batch_size)
            link = links[mcs]
            h = channel.common_fades(seed, snr, payload.shape[0])
            got, _ = link.transmit(payload, channel, snr, batch_size, h)
            records += _records("token-digital", label, float(snr), link.plan.channel_uses,
                                index.recall(quant.decode(got)), dataset, index, receiver=channel.receiver,
                                link_adaptation="bler")
    return records
