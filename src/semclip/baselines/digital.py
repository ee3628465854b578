"""A 5G-style digital link built from Sionna's blocks: CRC-24 per code block, 5G NR
LDPC (rate matching to any n), Gray-mapped QAM, our complex channels, APP demapping and
iterative decoding with early termination: by default our exact separable APP demapper
(``semclip.baselines.demapper``) and layered offset min-sum decoder over many codewords at
once (``semclip.baselines.ldpc``, compiled), or Sionna's own demapper and flooding
sum-product decoder (``decoder="sionna"``).

Physics fixed here: the QAM constellations have unit average energy, so the channel's
SNR is Es/N0 per complex channel use, the same convention as the JSCC codecs. On Rayleigh
block fading one gain h spans all of an image's code blocks, and the receiver has
perfect CSI (coherent detection): LLRs come from y/h with noise variance sigma^2/|h|^2,
which is exact for a flat block. The transmitter knows only the average SNR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import torch

from semclip.channels.base import Channel
from semclip.channels.registry import create_channel
from semclip.device import current as current_device
from semclip.errors import SemclipError

QAM_NAMES = {2: "QPSK", 4: "16-QAM", 6: "64-QAM", 8: "256-QAM"}
CRC_BITS = 24  # 5G CRC24B, attached to every code block
MAX_K = 8448  # largest 5G LDPC code block (base graph 1), CRC included
BG2_MAX_K = 3824  # Sionna (as 5G) codes larger blocks with base graph 1, whose lowest rate is 1/3


def _coded_bits(k: int, n: int, m: int) -> int:
    """n, or for a block that takes base graph 1 and would be coded below that graph's lowest
    rate, 1/3 (which Sionna refuses), the most coded bits (a multiple of m) at 1/3 or above."""
    return 3 * k // m * m if k > BG2_MAX_K and 3 * k < n else n
DECODERS = ("layered", "sionna")  # layered offset min-sum (ours, numba) | Sionna's flooding sum-product BP


@dataclass(frozen=True, order=True)
class MCS:
    """A modulation-and-coding pair: ``bits_per_symbol`` (2 QPSK, 4 16-QAM, 6 64-QAM)
    and the LDPC code rate k/n."""

    bits_per_symbol: int
    rate: Fraction

    @property
    def efficiency(self) -> float:
        """Coded bits per complex channel use x rate: information bits per channel use."""
        return self.bits_per_symbol * float(self.rate)

    @property
    def name(self) -> str:
        return f"{QAM_NAMES.get(self.bits_per_symbol, f'{2 ** self.bits_per_symbol}-QAM')} r={self.rate}"

    @classmethod
    def parse(cls, spec: str) -> "MCS":
        """'qpsk:1/3', '16qam:1/2', '64qam:2/3'."""
        mod, _, rate = spec.lower().partition(":")
        bits = {"qpsk": 2, "4qam": 2, "16qam": 4, "64qam": 6, "256qam": 8}.get(mod.replace("-", ""))
        try:
            r = Fraction(rate)
        except (ValueError, ZeroDivisionError):
            r = None
        if bits is None or r is None or not 0 < r < 1:
            raise SemclipError(f"bad MCS {spec!r}: write MODULATION:RATE with qpsk|16qam|64qam|256qam and 0 < rate < 1, e.g. 16qam:1/2")
        return cls(bits, r)


DEFAULT_MCS = ("qpsk:1/3", "qpsk:1/2", "qpsk:2/3", "16qam:1/3", "16qam:1/2", "16qam:2/3", "64qam:1/3", "64qam:1/2", "64qam:2/3")


@dataclass(frozen=True)
class BlockPlan:
    """How a payload is cut into code blocks: ``blocks`` blocks of ``info_bits`` bits (the
    LDPC code's k, CRC included) coded into ``coded_bits`` bits each (its n)."""

    mcs: MCS
    blocks: int
    info_bits: int
    coded_bits: int

    @property
    def payload_bits(self) -> int:
        """Payload bits carried per image (CRC excluded)."""
        return self.blocks * (self.info_bits - CRC_BITS)

    @property
    def channel_uses(self) -> int:
        """Complex symbols per image."""
        return self.blocks * self.coded_bits // self.mcs.bits_per_symbol

    @classmethod
    def for_payload(cls, bits: int, mcs: MCS) -> "BlockPlan":
        """The fewest equal code blocks that carry ``bits`` payload bits at this MCS."""
        if bits <= 0:
            raise SemclipError(f"payload must have a positive number of bits, got {bits}")
        blocks = math.ceil(bits / (MAX_K - CRC_BITS))
        k = math.ceil(bits / blocks) + CRC_BITS
        m = mcs.bits_per_symbol
        n = _coded_bits(k, math.ceil(k / float(mcs.rate) / m) * m, m)
        return cls(mcs, blocks, k, n)

    @classmethod
    def for_budget(cls, channel_uses: int, mcs: MCS) -> "BlockPlan":
        """The largest payload that fits ``channel_uses`` complex symbols at this MCS."""
        m = mcs.bits_per_symbol
        coded = channel_uses * m
        blocks = max(1, math.ceil(coded * float(mcs.rate) / MAX_K))
        n = (coded // blocks) // m * m
        k = math.floor(n * mcs.rate)
        n = _coded_bits(k, n, m)  # within the budget still
        if k <= CRC_BITS + 8:
            raise SemclipError(f"{channel_uses} channel uses are too few for any payload at {mcs.name}")
        return cls(mcs, blocks, k, n)


@lru_cache(maxsize=128)  # the default main job uses 72 distinct links; each takes about 30 ms to build
def _blocks(k: int, n: int, m: int, num_iter: int, device: str, decoder: str = "layered"):
    """Sionna encoders and decoders are built once per (k, n, modulation, device) and reused.
    Every block gets the run's device: Sionna's own default is cuda:0 whenever CUDA is
    visible, which would split a run between devices. ``decoder="layered"`` swaps Sionna's
    decoder for ours, built from the same code (its pruned parity-check matrix)."""
    from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import Demapper, Mapper

    from semclip.baselines.demapper import SeparableQAMDemapper
    from semclip.baselines.ldpc import LayeredMinSum

    if decoder not in DECODERS:
        raise SemclipError(f"unknown LDPC decoder {decoder!r}; choose from {list(DECODERS)}")
    crc_enc = CRCEncoder("CRC24B", device=device)
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m, device=device)
    if decoder == "layered":  # ours: the same exact LLRs (separable), the same code, ~10x and ~30x faster
        dec, demapper = LayeredMinSum(enc), SeparableQAMDemapper(m, device=device)
    else:
        dec = LDPC5GDecoder(enc, num_iter=num_iter, return_state=True, hard_out=True, device=device)
        demapper = Demapper("app", "qam", m, device=device)
    return (crc_enc, CRCDecoder(crc_enc, device=device), enc, dec, Mapper("qam", m, device=device), demapper)


def coherent_channel(spec: str, generator: torch.Generator | None = None) -> Channel:
    """The channel a coherent digital receiver sees for ``spec`` (``Channel.coherent``): AWGN,
    Rayleigh equalised by y/h, an OFDM link's de-biased LMMSE output."""
    return create_channel(spec, generator).coherent()


class DigitalLink:
    """bits -> CRC -> LDPC -> QAM -> channel -> APP demapper -> BP decoder -> CRC check."""

    def __init__(self, plan: BlockPlan, num_iter: int = 20, check_every: int = 4, device: torch.device | None = None,
                 decoder: str = "layered") -> None:
        self.plan = plan
        self.num_iter = num_iter
        self.check_every = check_every
        self.device = device or current_device()
        self.decoder = decoder
        self.crc_enc, self.crc_dec, self.enc, self.dec, self.mapper, self.demapper = _blocks(
            plan.info_bits, plan.coded_bits, plan.mcs.bits_per_symbol, num_iter, str(self.device), decoder
        )

    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """bits: [B, info_bits] in {0, 1} -> symbols [B, channel_uses] complex64, unit
        average energy."""
        p = self.plan
        if bits.dim() != 2 or bits.shape[1] != p.payload_bits:
            raise SemclipError(f"expected payload bits [B, {p.payload_bits}], got {list(bits.shape)}")
        u = bits.to(self.device).float().reshape(-1, p.info_bits - CRC_BITS)
        x = self.mapper(self.enc(self.crc_enc(u)))
        return x.reshape(bits.shape[0], p.channel_uses)

    @torch.no_grad()
    def demodulate(self, y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y: [B, channel_uses] equalised symbols; noise_var: [B, 1] -> (decoded payload
        bits [B, info_bits] uint8, block_ok [B, blocks] bool from each block's CRC)."""
        p = self.plan
        b = y.shape[0]
        no = noise_var.to(self.device).expand(b, p.channel_uses).reshape(b * p.blocks, -1)
        llr = self.demapper(y.to(self.device).reshape(b * p.blocks, -1), no)
        bits, ok = self._decode(llr)
        return bits.reshape(b, p.payload_bits).to(torch.uint8), ok.reshape(b, p.blocks)

    def _decode(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layered: each codeword stops at its first iteration that meets every parity check,
        then its CRC is checked. Sionna: BP in chunks of ``check_every`` iterations; a block
        whose CRC passes stops there (early termination, as real decoders do); the rest go on
        up to num_iter."""
        if self.decoder == "layered":
            hard, _ = self.dec(llr, self.num_iter)
            u, valid = self.crc_dec(hard)
            return u, valid.reshape(-1).bool()
        rows = llr.shape[0]
        bits = torch.zeros(rows, self.plan.info_bits - CRC_BITS, device=llr.device)
        ok = torch.zeros(rows, dtype=torch.bool, device=llr.device)
        active = torch.arange(rows, device=llr.device)
        state = None
        done_iter = 0
        while active.numel():
            step = min(self.check_every, self.num_iter - done_iter)
            hard, state = self.dec(llr[active], num_iter=step, msg_v2c=state)
            done_iter += step
            u, valid = self.crc_dec(hard)
            valid = valid.reshape(-1).bool()
            stop = valid | (done_iter >= self.num_iter)
            bits[active[stop]] = u[stop]
            ok[active[stop]] = valid[stop]
            active, state = active[~stop], state[~stop]
        return bits, ok

    def transmit(
        self, bits: torch.Tensor, channel: Channel, snr_db: float | torch.Tensor, batch_size: int | None = None,
        gains: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Send payloads [B, info_bits] over ``channel`` (one fading block per payload; on a
        fading channel with ``gains`` [B, 1], payload i fades by gains[i]: the common random
        numbers every method shares), ``batch_size`` at a time (the decoder's memory grows
        with the batch) -> (decoded bits [B, info_bits] uint8, block_ok [B, blocks])."""
        step = batch_size or max(1, bits.shape[0])
        parts = []
        for s in range(0, bits.shape[0], step):
            snr = snr_db[s : s + step] if torch.is_tensor(snr_db) and snr_db.dim() > 0 else snr_db
            if torch.is_tensor(snr):
                snr = snr.to(self.device)
            x = self.modulate(bits[s : s + step])
            with channel.gains(None if gains is None else gains[s : s + x.shape[0]]):
                out = channel(x, snr)
            parts.append(self.demodulate(out.y, out.noise_var))
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def bits_from_bytes(data: bytes, length: int) -> torch.Tensor:
    """bytes -> [length] uint8 bits (MSB first), zero-padded to ``length``."""
    if len(data) * 8 > length:
        raise SemclipError(f"{len(data)} bytes do not fit {length} bits")
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8, device="cpu")
    bits = ((raw.unsqueeze(1) >> torch.arange(7, -1, -1, device="cpu")) & 1).reshape(-1)  # host side: bytes live there
    return torch.cat([bits, torch.zeros(length - bits.numel(), dtype=torch.uint8, device="cpu")])


def bytes_from_bits(bits: torch.Tensor) -> bytes:
    """[L] bits (MSB first) -> L // 8 bytes (a trailing partial byte is padding)."""
    b = bits.cpu().to(torch.uint8)[: bits.numel() // 8 * 8].reshape(-1, 8)
    return bytes((b << torch.arange(7, -1, -1, dtype=torch.uint8, device="cpu")).sum(1, dtype=torch.uint8).tolist())
