"""``image-jpeg-ldpc``: JPEG at the side and quality that fit the budget with the least pixel
error (``semclip.baselines.jpeg``: 28, 20, 14, 10 or 7 px for 28-px images, upscaled at the
receiver; ``jpeg_sides=[28]`` is the paper's fixed-resolution framing) -> CRC + 5G LDPC ->
QAM; the MCS per SNR by link adaptation (``semclip.baselines.adaptation``: the most
efficient one whose BLER on random payloads meets the target; ``oracle``: the best by test
accuracy). A block that fails its CRC loses the image: the receiver sees a grey frame.
Every image baseline occupies its whole budget (``channel_uses_per_image``), the way a
transmitter holds the resource it was allotted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from semclip.baselines.adaptation import select_mcs
from semclip.baselines import common
from semclip.baselines.common import Baseline, BaselineConfig, Context, Outcome, register_baseline
from semclip.baselines.digital import BlockPlan, DigitalLink, bits_from_bytes, bytes_from_bits, coherent_channel
from semclip.baselines.jpeg import FRAMING as JPEG_FRAMING
from semclip.baselines.jpeg import frame, unframe
from semclip.baselines.jpeg_source import JpegSource, sent_mix
from semclip.baselines.receiver import ImageReceiver
from semclip.results import Record


def jpeg_ldpc_outcome(src: JpegSource, link: DigitalLink, channel, snr: float, batch: int, gains: torch.Tensor | None = None) -> Outcome:
    plan = link.plan
    max_scan = plan.payload_bits // 8 - JPEG_FRAMING
    choices = [j.choose(max_scan) for j in src.jpegs]
    shown: list = [None] * len(choices)
    sent = [i for i, c in enumerate(choices) if c is not None]
    lost = len(choices) - len(sent)
    for i, c in enumerate(choices):
        if c is None:
            shown[i] = src.received(i, None)  # does not fit even at the smallest side and lowest quality
    if sent:
        payload = torch.stack([bits_from_bytes(frame(choices[i][1], choices[i][0], src.jpegs[i].scan(*choices[i])), plan.payload_bits)
                               for i in sent])
        bits, ok = link.transmit(payload, channel, snr, batch, None if gains is None else gains[sent])
        for row, i in enumerate(sent):
            got = unframe(bytes_from_bits(bits[row]), max_scan, src.jpegs[i].sides) if ok[row].all() else None
            lost += got is None
            shown[i] = src.received(i, (got[1], got[0]), got[2]) if got else src.received(i, None)
    return Outcome(src.outcomes(shown), plan.channel_uses, lost / len(choices),
                   f"{plan.mcs.name}, {sent_mix(choices)}, images lost {lost / len(choices):.3f}")



@register_baseline("JPEG (rate-controlled to the budget) -> CRC + 5G LDPC -> QAM, MCS by link adaptation")
class ImageJpegLdpc(Baseline):
    name = "image-jpeg-ldpc"

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        src = JpegSource(ctx, receiver, cfg.jpeg_sides)
        gen = common.channel_generator(ctx.seed, spec)
        channel = coherent_channel(spec, gen)
        links = {m: DigitalLink(BlockPlan.for_budget(cfg.budget, m), cfg.num_iter, decoder=cfg.decoder) for m in cfg.mcs_table}
        out = []
        for snr in snrs:
            h = common.common_fades(ctx, spec, snr)
            if cfg.link_adaptation == "oracle":
                best = common.best_over_mcs(cfg.mcs_table, lambda m: jpeg_ldpc_outcome(src, links[m], channel, snr, cfg.batch_size, h))
            else:
                mcs, bler = select_mcs(links, spec, snr, cfg.target_bler, cfg.probe_payloads, ctx.seed, cfg.batch_size)
                best = jpeg_ldpc_outcome(src, links[mcs], channel, snr, cfg.batch_size, h)
                best.detail += f", probe BLER {bler:.3f} (target {cfg.target_bler:g})"
            out.append(common.make_record("image-jpeg-ldpc", spec, snr, best, len(ctx.labels), channel.receiver, cfg.link_adaptation))
            tick()
        return out
