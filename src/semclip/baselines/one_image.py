"""One image over JPEG + LDPC + QAM, for `semclip serve`: the transmitter picks the MCS
by the usual SNR-gap rule (the most efficient MCS whose efficiency is below the capacity
at the average SNR minus a gap), since it cannot search over a test set for one image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from semclip.baselines.digital import DEFAULT_MCS, MCS, BlockPlan, DigitalLink, bits_from_bytes, bytes_from_bits, coherent_channel
from semclip.baselines.jpeg import FRAMING, JpegImage, default_sides, frame, grey, receive, unframe
from semclip.device import generator

SNR_GAP_DB = 3.0  # typical distance of practical LDPC + QAM from capacity at these lengths


@dataclass
class SentImage:
    image: Image.Image  # what the receiver shows (the decoded JPEG, or grey)
    mcs: str
    quality: int | None  # JPEG quality sent (None: did not fit)
    lost: bool
    channel_uses: int
    side: int | None = None  # px of the longer side the picture was sent at


def pick_mcs(snr_db: float, table: Sequence[MCS], gap_db: float = SNR_GAP_DB) -> MCS:
    limit = math.log2(1 + 10 ** ((snr_db - gap_db) / 10))
    ok = [m for m in table if m.efficiency <= limit]
    return max(ok, key=lambda m: m.efficiency) if ok else min(table, key=lambda m: m.efficiency)


def send_jpeg(image: Image.Image, budget: int, channel: str, snr_db: float, seed: int = 0,
              table: Sequence[str] = DEFAULT_MCS) -> SentImage:
    mcs = pick_mcs(snr_db, [MCS.parse(s) for s in table])
    plan = BlockPlan.for_budget(budget, mcs)
    jpeg = JpegImage.of(image, default_sides(image.size))
    max_scan = plan.payload_bits // 8 - FRAMING
    choice = jpeg.choose(max_scan)
    if choice is None:
        return SentImage(grey(jpeg.size, jpeg.mode), mcs.name, None, True, plan.channel_uses)
    side, q = choice
    link = DigitalLink(plan)
    bits, ok = link.transmit(bits_from_bytes(frame(q, side, jpeg.scan(side, q)), plan.payload_bits)[None],
                             coherent_channel(channel, generator(seed, link.device)), snr_db)
    got = unframe(bytes_from_bits(bits[0]), max_scan, jpeg.sides) if ok.all() else None
    shown = receive(got[2], got[0], got[1], jpeg.size, jpeg.mode) if got else None
    return SentImage(shown or grey(jpeg.size, jpeg.mode), mcs.name, q, shown is None, plan.channel_uses, side)
