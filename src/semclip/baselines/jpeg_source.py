"""The JPEG baselines' source and rate control: each test image's ladder of JPEGs (sides
and qualities, made once and kept on the ``Context``), what the receiver is shown for what
arrived, and the JPEG each rate fits."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from PIL import Image

from semclip.baselines.common import BaselineConfig, Context
from semclip.baselines.digital import MCS, BlockPlan
from semclip.baselines.jpeg import FRAMING as JPEG_FRAMING
from semclip.baselines.jpeg import JpegImage, check_sides, default_sides, grey, receive
from semclip.baselines.receiver import ImageReceiver
from semclip.tasks.zeroshot import correct


class JpegSource:
    """Rate control + the receiver side of the JPEG baselines."""

    def __init__(self, ctx: Context, receiver: ImageReceiver, sides: Sequence[int] | None = None) -> None:
        self.ctx = ctx
        self.receiver = receiver
        def ladder(im: Image.Image) -> tuple[int, ...]:
            return check_sides(sides, im.size) if sides else default_sides(im.size)

        if ctx.jpegs is None or len(ctx.jpegs) != len(ctx.images) or (ctx.images and ctx.jpegs[0].sides != ladder(ctx.images[0])):
            ctx.jpegs = [JpegImage.of(im, ladder(im)) for im in ctx.images]  # kept on the context for the next JPEG baseline
        self.jpegs = ctx.jpegs

    def received(self, i: int, choice: tuple[int, int] | None, scan: bytes | None = None) -> tuple[Image.Image | None, tuple | None]:
        """The image the receiver shows for test image i and its cache key: the JPEG sent
        at ``choice`` = (side, quality), upscaled, when its scan arrived intact; a grey
        frame when nothing usable did. An intact JPEG whose tokens the receiver already
        holds is not decoded again (the image is None then: only its key is needed)."""
        j = self.jpegs[i]
        if choice is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        side, q = choice
        sent = j.scan(side, q)
        key = (i, side, q) if scan is None or scan == sent else None  # a corrupted scan is never cached
        if key in self.receiver:
            return None, key
        im = receive(sent if scan is None else scan, q, side, j.size, j.mode)
        if im is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        return im, key

    def outcomes(self, shown: list[tuple[Image.Image | None, tuple | None]]) -> torch.Tensor:
        """[N] bool: which test images the receiver classifies right from what it was shown."""
        tokens = self.receiver.tokens([s[0] for s in shown], [s[1] for s in shown])
        return correct(self.ctx.classifier.predict(tokens), self.ctx.labels)


def sent_mix(choices: Sequence[tuple[int, int] | None]) -> str:
    """'20 px 60 %, 14 px 40 %, q≈35': what the rate control sent, for a record's detail."""
    sent = [c for c in choices if c is not None]
    if not sent:
        return "no JPEG fits"
    sides = sorted({s for s, _ in sent}, reverse=True)
    mix = ", ".join(f"{s} px {100 * sum(c[0] == s for c in sent) / len(sent):.0f} %" for s in sides)
    return f"JPEG {mix}, q≈{sum(q for _, q in sent) / len(sent):.0f}"


def jpeg_at_rates(src: JpegSource, cfg: BaselineConfig, rates: torch.Tensor) -> tuple[torch.Tensor, int, str]:
    """Each image's best JPEG (side, quality) that its rate (bits per channel use; 0: in
    outage) delivers error-free within the budget, shown to the receiver -> (outcomes,
    images lost, what was sent)."""
    choices = [j.choose(cfg.budget * rates[i].item() / 8 - JPEG_FRAMING) for i, j in enumerate(src.jpegs)]
    shown = [src.received(i, c) for i, c in enumerate(choices)]
    return src.outcomes(shown), sum(c is None for c in choices), sent_mix(choices)


def min_jpeg_channel_uses(jpegs: Sequence[JpegImage], table: Sequence[MCS]) -> float:
    """Mean channel uses to send each image's smallest JPEG (smallest side, quality 1) at
    the most efficient MCS of the table, CRC included: the least any JPEG-over-LDPC link needs."""
    top = max(table, key=lambda m: m.efficiency)
    bits = [smallest_jpeg_bits(j) for j in jpegs]
    return sum(BlockPlan.for_payload(b, top).channel_uses for b in bits) / len(bits) if bits else math.nan


def smallest_jpeg_bits(j: JpegImage) -> int:
    """Bits of the least a JPEG link can send of this image: smallest side, quality 1, framed."""
    return 8 * (JPEG_FRAMING + len(j.scan(min(j.sides), 1)))
