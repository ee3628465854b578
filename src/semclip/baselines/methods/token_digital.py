"""``token-digital``: the clean token quantised to b bits per component -> CRC + LDPC ->
QAM; per SNR, each b's MCS by link adaptation and the largest b that then fits the budget
(``oracle``: the best (b, MCS) by test accuracy). Failed blocks keep the decoder's hard
bits."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semclip.baselines.adaptation import select_mcs
from semclip.baselines import common
from semclip.baselines.common import Baseline, BaselineConfig, Context, Outcome, register_baseline
from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
from semclip.baselines.receiver import ImageReceiver
from semclip.results import Record
from semclip.tasks.zeroshot import correct


@register_baseline("the clean token quantised to b bits -> CRC + 5G LDPC -> QAM, (b, MCS) by link adaptation")
class TokenDigital(Baseline):
    name = "token-digital"

    def read_back(self, cfg: BaselineConfig, ctx: Context) -> None:
        for b in cfg.token_bits:
            ctx.quantizer(b)

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        channel = coherent_channel(spec, common.channel_generator(ctx.seed, spec))
        quant = {b: ctx.quantizer(b) for b in cfg.token_bits}
        payload = {b: q.encode(ctx.tokens) for b, q in quant.items()}

        def outcome(b: int, link: DigitalLink, snr: float) -> Outcome:
            got, ok = link.transmit(payload[b], channel, snr, cfg.batch_size, common.common_fades(ctx, spec, snr))
            right = correct(ctx.classifier.predict(quant[b].decode(got)), ctx.labels)
            lost = 1 - ok.all(1).float().mean().item()
            return Outcome(right, link.plan.channel_uses, lost, f"{b} bit/component, {link.plan.mcs.name}, tokens hit {lost:.3f}")

        links = {b: {m: DigitalLink(BlockPlan.for_payload(q.payload_bits, m), cfg.num_iter, decoder=cfg.decoder) for m in cfg.mcs_table}
                 for b, q in quant.items()}
        out = []
        for snr in snrs:
            if cfg.link_adaptation == "oracle":
                cands = [common.best_over_mcs(cfg.mcs_table, lambda m, b=b: outcome(b, links[b][m], snr)) for b in cfg.token_bits]
                best = max(cands, key=lambda o: (o.acc, -o.uses))
            else:
                b, mcs, bler = token_link(links, spec, snr, cfg, ctx.seed)
                best = outcome(b, links[b][mcs], snr)
                best.detail += f", probe BLER {bler:.3f} (target {cfg.target_bler:g})"
            out.append(common.make_record("token-digital", spec, snr, best, len(ctx.labels), channel.receiver, cfg.link_adaptation))
            tick()
        return out


def token_link(links: dict[int, dict[MCS, DigitalLink]], spec: str, snr: float, cfg: BaselineConfig, seed: int) -> tuple[int, MCS, float]:
    """token-digital's label-free choice: each bit width's MCS by link adaptation, then the
    largest bit width whose link fits the budget (the finest token the allotted channel
    uses carry reliably); when none fits, the smallest."""
    picks = {b: select_mcs(by_mcs, spec, snr, cfg.target_bler, cfg.probe_payloads, seed, cfg.batch_size) for b, by_mcs in links.items()}
    fits = [b for b, (m, _) in picks.items() if links[b][m].plan.channel_uses <= cfg.budget]
    b = max(fits) if fits else min(picks)
    return b, *picks[b]
