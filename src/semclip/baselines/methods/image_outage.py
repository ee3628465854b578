"""The capacity bounds without CSI at the transmitter, one rate per SNR from the channel's
statistics: ``image-outage`` (outage probability = the target BLER; an image in outage is
lost) and ``image-ergodic`` (the ergodic capacity, no image lost: a code spread over many
independent fades, whatever the delay)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from semclip.baselines.common import Baseline, BaselineConfig, Context, Outcome, capacities, make_record, register_baseline
from semclip.baselines.jpeg_source import JpegSource, jpeg_at_rates
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.registry import create_channel
from semclip.results import Record


@register_baseline("the ergodic capacity bound without CSIT: one rate per SNR, E[log2(1 + |h|^2 SNR)], no image lost "
                   "(a code spread over many fades)", name="image-ergodic", ergodic=True)
@register_baseline("the capacity bound without CSIT: one rate per SNR (outage = the target BLER); an image in outage is lost")
class ImageOutage(Baseline):
    name = "image-outage"

    def __init__(self, name: str = "image-outage", ergodic: bool = False) -> None:
        self.name, self.ergodic = name, ergodic

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        """JPEG at the outage bound, no CSI at the transmitter: one rate R per SNR, fixed from
        the channel's statistics so that P(capacity < R) equals the target BLER (Rayleigh:
        |h|^2 ~ Exp(1), R = log2(1 - SNR ln(1 - target)); an OFDM link: the target quantile
        of the frame capacity, ``Channel.outage_rate``); an image whose channel cannot carry
        R is lost. On AWGN it is the capacity bound. ``image-ergodic`` sends every image at
        the ergodic capacity (``Channel.ergodic_rate``) and loses none: the bound for codes
        long enough to see the channel's statistics, not its one realisation."""
        src = JpegSource(ctx, receiver, cfg.jpeg_sides)
        channel = create_channel(spec)
        n = len(ctx.images)
        out = []
        for snr in snrs:
            if self.ergodic:
                rate = channel.ergodic_rate(snr, cfg.budget, ctx.seed)
                rates, why = torch.full((n,), rate), "ergodic capacity, no CSIT"
            else:
                rate = channel.outage_rate(snr, cfg.target_bler, cfg.budget, ctx.seed)
                # float32 capacities against a float64 rate: AWGN's equal ones must not fall short by a rounding
                rates = torch.where(capacities(ctx, spec, snr, cfg.budget) >= rate * (1 - 1e-6), torch.tensor(rate), torch.tensor(0.0))
                why = f"no CSIT, outage target {cfg.target_bler:g}"
            ok, lost, mix = jpeg_at_rates(src, cfg, rates)
            o = Outcome(ok, cfg.budget, lost / n, f"fixed rate {rate:.3f} bit/use ({why}), {mix}, images lost {lost / n:.3f}")
            out.append(make_record(self.name, spec, snr, o, n, None))
            tick()
        return out
