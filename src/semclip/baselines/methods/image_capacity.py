"""``image-capacity``: the JPEG framing sent at Shannon capacity, error-free, within the same
budget: the ideal digital bound (Rayleigh: the instantaneous capacity of each block, i.e.
rate adapted to h with CSI at the transmitter, an upper bound on any real scheme)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semclip.baselines.common import Baseline, BaselineConfig, Context, Outcome, capacities, make_record, register_baseline
from semclip.baselines.jpeg_source import JpegSource, jpeg_at_rates
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.registry import create_channel
from semclip.results import Record


@register_baseline("the same JPEG framing at Shannon capacity, error-free (Rayleigh: rate adapted to h, CSIT): the ideal digital bound")
class ImageCapacity(Baseline):
    name = "image-capacity"

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        """JPEG at log2(1 + |h|^2 SNR) per image: the rate adapted to each block's fade, i.e.
        CSI at the transmitter (CSIT) on Rayleigh; log2(1 + SNR) on AWGN; on an OFDM link the
        frame's capacity, the mean of log2(1 + |H_i|^2 SNR) over the elements the image uses."""
        src = JpegSource(ctx, receiver, cfg.jpeg_sides)
        n = len(ctx.images)
        fading = create_channel(spec).fading
        out = []
        for snr in snrs:
            ok, lost, mix = jpeg_at_rates(src, cfg, capacities(ctx, spec, snr, cfg.budget))
            o = Outcome(ok, cfg.budget, lost / n, f"JPEG at capacity{' with CSIT' if fading else ''}, {mix}, images that fit no JPEG {lost / n:.3f}")
            out.append(make_record("image-capacity", spec, snr, o, n, "csit" if fading else None))
            tick()
        return out
