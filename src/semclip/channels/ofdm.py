"""OFDM links over the 3GPP TR 38.901 TDL and CDL channel models, built from Sionna's blocks.

``ofdm-tdl:C:300ns:120kmh:ls`` is one SISO OFDM link: a resource grid (Sionna's
``ResourceGrid``: FFT size, subcarrier spacing, cyclic prefix, Kronecker pilots on a few
OFDM symbols of each 14-symbol slot), a multipath channel that changes over the slot
(Sionna's ``TDL`` / ``CDL``: delay spread, carrier frequency, user speed), and a receiver
that knows the channel (``perfect``) or estimates it from the pilots (``ls``: Sionna's LS
estimator with its linear interpolation), then equalises (``lmmse``, or ``zf``).

What a block of n symbols sees:

- **Mapping.** Each row of the batch (one image) has a frame of its own (``slots`` slots,
  its own channel realisation). Its n symbols go onto n of the frame's data elements,
  evenly spaced in Sionna's data order (OFDM symbol by OFDM symbol, subcarriers within), so
  that a short block is spread over both frequency and time: the same statistics as many
  images sharing a slot through a comb interleaver. More symbols than the frame's data
  elements is an error.
- **What it costs.** Every method on the link is charged the same resource elements: a data
  symbol costs ``charge`` = (all elements / data elements) x (FFT + CP) / FFT channel uses
  (pilots and the cyclic prefix's share); ``pilot_overhead`` is the pilots' share.
- **SNR** is E_s/N_0 per resource element at unit average channel power, for data and
  pilots alike.
- **What the decoder gets.** Per symbol, the biased LMMSE output y = b x + e (b = |h|^2 /
  (|h|^2 + S), S the noise plus the estimation error, so ``rayleigh:mmse``'s form symbol
  by symbol) or, with ``zf``, y / h (b = 1); ``noise_var`` and ``gain`` per symbol; and
  ``rx_snr_db``, the block's effective SNR: that of the flat block whose MMSE output keeps
  the same mean signal share, s / (1 + s) = mean(b).

Only the elements a block uses are computed (its data elements and the pilots): the channel's
frequency response from Sionna's path coefficients and delays, the LS estimates through the
interpolation matrix of Sionna's ``LinearInterpolator`` (read from it once), and the SISO
closed forms of Sionna's LMMSE and ZF equalisers. ``tests/test_ofdm.py`` checks each of these
against Sionna's own full-grid blocks on the same signals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch

from semclip.channels.base import CHANNELS, ChannelOutput, FadingChannel, as_snr_tensor, complex_noise, snr_to_noise_var
from semclip.errors import SemclipError

PROFILES = ("A", "B", "C", "D", "E")
MODELS = ("tdl", "cdl")
CSI_MODES = ("ls", "perfect")
EQUALIZERS = ("lmmse", "zf")
NR_SPACINGS_KHZ = (15.0, 30.0, 60.0, 120.0, 240.0)
DELAY_SPREAD_NS = (10.0, 1000.0)  # TR 38.901 Tables 7.7.3-1/2: "very short" to "very long"
SPEED_KMH = (0.0, 500.0)  # up to NR's high-speed train
CARRIER_GHZ = (0.5, 100.0)  # where TR 38.901's models apply
MAX_BANDWIDTH_HZ = 2e9  # ditto
MAX_DOPPLER_SHARE = 0.1  # the frequency-domain model leaves out inter-carrier interference
MAX_SLOTS = 8
OUTAGE_FRAMES = 4000  # frames behind an outage rate: its target quantile to about +-0.5 % at a 10 % target
PILOT_SEED = 0  # the pilots' QPSK sequence: fixed, so that a link is the same link in every run
SPEC_GRAMMAR = ("<A-E>[:<ns>ns][:<km/h>kmh][:<GHz>ghz][:<kHz>khz][:fft<N>][:cp<N>][:sym<N>][:pilots<i>+<j>...]"
                "[:slots<N>][:ls|perfect][:lmmse|zf]")
SHORT_GRAMMAR = "<A-E>[:<ns>ns][:<km/h>kmh][:ls|perfect][:...]"  # what `semclip list` shows; the rest in the doc line


@dataclass(frozen=True)
class OFDMLinkConfig:
    """One OFDM link; every default is stated in docs/channels.md."""

    model: str = "tdl"  # tdl | cdl
    profile: str = "C"
    delay_spread_ns: float = 300.0
    speed_kmh: float = 3.0
    carrier_ghz: float = 3.5
    scs_khz: float = 30.0
    fft_size: int = 128
    cp_length: int = 9  # samples: NR's normal prefix (144 of 2048) at this FFT size
    symbols: int = 14  # OFDM symbols per slot
    pilot_symbols: tuple[int, ...] = (2, 11)  # OFDM symbols of each slot that carry pilots on every subcarrier
    slots: int = 1  # slots per frame: one image's symbols fit in one frame
    csi: str = "ls"
    equalizer: str = "lmmse"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """One sentence naming the setting and its allowed range for anything the model does not cover."""
        _choice("OFDM channel model", self.model, MODELS)
        _choice(f"{self.model.upper()} profile", self.profile, PROFILES)
        _choice("CSI mode", self.csi, CSI_MODES)
        _choice("equaliser", self.equalizer, EQUALIZERS)
        _within("delay spread", self.delay_spread_ns, DELAY_SPREAD_NS, "ns", "TR 38.901's delay spreads")
        _within("user speed", self.speed_kmh, SPEED_KMH, "km/h", "TR 38.901 with NR's high-speed train")
        _within("carrier frequency", self.carrier_ghz, CARRIER_GHZ, "GHz", "TR 38.901's range")
        if self.scs_khz not in NR_SPACINGS_KHZ:
            raise SemclipError(f"subcarrier spacing {self.scs_khz:g} kHz is not an NR numerology: choose one of "
                               f"{', '.join(f'{s:g}' for s in NR_SPACINGS_KHZ)} kHz")
        if not 8 <= self.fft_size <= 4096:
            raise SemclipError(f"FFT size {self.fft_size} is outside 8..4096")
        if not 0 <= self.cp_length < self.fft_size:
            raise SemclipError(f"FFT size {self.fft_size} is too small for a cyclic prefix of {self.cp_length} samples: "
                               f"the prefix must be 0..{self.fft_size - 1} samples")
        if self.fft_size * self.scs_khz * 1e3 > MAX_BANDWIDTH_HZ:
            raise SemclipError(f"bandwidth {self.fft_size * self.scs_khz / 1e3:g} MHz exceeds TR 38.901's 2 GHz")
        if self.max_doppler_hz > MAX_DOPPLER_SHARE * self.scs_khz * 1e3:
            raise SemclipError(
                f"Doppler {self.max_doppler_hz:.0f} Hz ({self.speed_kmh:g} km/h at {self.carrier_ghz:g} GHz) exceeds "
                f"{MAX_DOPPLER_SHARE:.0%} of the {self.scs_khz:g} kHz subcarrier spacing, where the model's neglect of "
                "inter-carrier interference stops holding: lower the speed or widen the spacing")
        self._check_grid()

    def _check_grid(self) -> None:
        if not 1 <= self.symbols <= 14:
            raise SemclipError(f"{self.symbols} OFDM symbols per slot is outside 1..14")
        if not 1 <= self.slots <= MAX_SLOTS:
            raise SemclipError(f"{self.slots} slots per frame is outside 1..{MAX_SLOTS}")
        bad = [p for p in self.pilot_symbols if not 0 <= p < self.symbols]
        if bad or len(set(self.pilot_symbols)) != len(self.pilot_symbols):
            raise SemclipError(f"pilot OFDM symbols {list(self.pilot_symbols)} must be distinct indices in 0..{self.symbols - 1}")
        if len(self.pilot_symbols) >= self.symbols:
            raise SemclipError(f"pilots on {list(self.pilot_symbols)} fill all {self.symbols} OFDM symbols of the slot: "
                               "no data element is left (leave at least one symbol without pilots)")
        if self.csi == "ls" and not self.pilot_symbols:
            raise SemclipError("LS estimation needs pilots: give pilot symbols (e.g. pilots2+11) or use perfect CSI")

    @property
    def max_doppler_hz(self) -> float:
        return self.speed_kmh / 3.6 * self.carrier_ghz * 1e9 / 299_792_458.0

    @property
    def symbol_duration_s(self) -> float:
        """One OFDM symbol with its cyclic prefix."""
        return (1.0 + self.cp_length / self.fft_size) / (self.scs_khz * 1e3)

    @property
    def data_per_frame(self) -> int:
        return (self.symbols - len(self.pilot_symbols)) * self.fft_size * self.slots

    @property
    def pilot_overhead(self) -> float:
        """The pilots' share of the frame's resource elements."""
        return len(self.pilot_symbols) / self.symbols

    @property
    def charge(self) -> float:
        """Channel uses one data symbol costs: its share of the pilots and of the cyclic prefix."""
        return 1.0 / (1.0 - self.pilot_overhead) * (self.fft_size + self.cp_length) / self.fft_size

    @property
    def spec(self) -> str:
        """The canonical name: profile, delay spread, speed and CSI always; the rest where not default."""
        receiver = [self.csi] + ([self.equalizer] if self.equalizer != "lmmse" else [])
        return ":".join([self.realisation_key, *receiver])

    @property
    def realisation_key(self) -> str:
        """The name without the receiver: what the channel's realisations depend on (CSI modes share them)."""
        d = OFDMLinkConfig()
        parts = [self.profile, f"{self.delay_spread_ns:g}ns", f"{self.speed_kmh:g}kmh"]
        parts += [f"{self.carrier_ghz:g}ghz"] if self.carrier_ghz != d.carrier_ghz else []
        parts += [f"{self.scs_khz:g}khz"] if self.scs_khz != d.scs_khz else []
        parts += [f"fft{self.fft_size}"] if self.fft_size != d.fft_size else []
        parts += [f"cp{self.cp_length}"] if self.cp_length != d.cp_length else []
        parts += [f"sym{self.symbols}"] if self.symbols != d.symbols else []
        parts += ["pilots" + "+".join(map(str, self.pilot_symbols))] if self.pilot_symbols != d.pilot_symbols else []
        parts += [f"slots{self.slots}"] if self.slots != d.slots else []
        return f"ofdm-{self.model}:" + ":".join(parts)


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SemclipError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")


def _within(what: str, value: float, bounds: tuple[float, float], unit: str, source: str) -> None:
    if not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
        raise SemclipError(f"{what} {value:g} {unit} is outside {bounds[0]:g}..{bounds[1]:g} {unit} ({source})")


_TOKENS = (  # (pattern, field, converter) for the tokens after the profile
    (r"(\d+(?:\.\d+)?)ns", "delay_spread_ns", float),
    (r"(\d+(?:\.\d+)?)kmh", "speed_kmh", float),
    (r"(\d+(?:\.\d+)?)ghz", "carrier_ghz", float),
    (r"(\d+(?:\.\d+)?)khz", "scs_khz", float),
    (r"fft(\d+)", "fft_size", int),
    (r"cp(\d+)", "cp_length", int),
    (r"sym(\d+)", "symbols", int),
    (r"pilots((?:\d+)(?:\+\d+)*)?", "pilot_symbols", lambda s: tuple(int(p) for p in s.split("+")) if s else ()),
    (r"slots(\d+)", "slots", int),
    (r"(ls|perfect)", "csi", str),
    (r"(lmmse|zf)", "equalizer", str),
)


def parse_link(model: str, arg: str) -> OFDMLinkConfig:
    """``C:300ns:120kmh:ls`` (any order after the profile) -> the link's config."""
    tokens = [t.strip() for t in arg.split(":")] if arg else []
    settings: dict = {"model": model}
    if tokens and tokens[0]:
        settings["profile"] = tokens.pop(0).upper()
    for tok in tokens:
        for pattern, name, convert in _TOKENS:
            m = re.fullmatch(pattern, tok.lower())
            if m:
                if name in settings:
                    raise SemclipError(f"ofdm-{model}:{arg} sets {name} twice")
                settings[name] = convert(m.group(1))
                break
        else:
            raise SemclipError(f"unknown setting {tok!r} in ofdm-{model}:{arg}; the link reads ofdm-{model}:{SPEC_GRAMMAR}")
    return OFDMLinkConfig(**settings)


class OFDMLink(FadingChannel):
    """``forward(x [B, n] complex, snr_db [B, 1]) -> ChannelOutput`` with per-symbol
    ``noise_var`` and ``gain`` [B, n]; see the module docstring for what it models."""

    def __init__(self, cfg: OFDMLinkConfig, generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        self.cfg = cfg
        self.name = cfg.realisation_key  # what records call the channel; ``csi`` says the receiver's knowledge
        self.csi = cfg.csi
        self.charge, self.pilot_overhead = cfg.charge, cfg.pilot_overhead
        self.unbiased = False  # the LMMSE output de-biased (x / b), as a QAM demapper needs it: ``coherent``
        self._models: dict[str, object] = {}
        self._delays: dict[str, torch.Tensor] = {}

    @property
    def spec(self) -> str:
        return self.cfg.spec

    def coherent(self) -> "OFDMLink":
        """The same link (same realisations and noise stream) with the LMMSE output de-biased:
        y / b with noise (1 - b) / b per symbol, what Sionna's LMMSE equaliser gives its demapper."""
        twin = OFDMLink(self.cfg, self.generator)
        twin.unbiased = True
        return twin

    @property
    def receiver(self) -> str:
        return "mmse" if self.cfg.equalizer == "lmmse" else "zf"

    @property
    def codec_recipe(self) -> tuple[tuple[str, ...], bool]:
        """An LMMSE-equalised link is served by the codec of AWGN and equalised Rayleigh (it
        gets the same kind of symbols); a ZF link by a codec of its own."""
        if self.cfg.equalizer == "lmmse":
            return ("awgn", "rayleigh"), False
        return (self.spec,), False

    # --- the resource grid (Sionna's), and what is read from it once ---------------------------
    @cached_property
    def grid(self):
        """Sionna's resource grid. Its Kronecker pilots are random QPSK drawn from Sionna's
        generator: drawn here under a fixed seed (and that generator's state given back), so
        that every link of the same settings sends the same pilots and runs repeat."""
        from sionna.phy import config
        from sionna.phy.ofdm import ResourceGrid

        c = self.cfg
        pilots = [p + s * c.symbols for s in range(c.slots) for p in c.pilot_symbols]
        rng = config.torch_rng("cpu")
        state = rng.get_state()
        rng.manual_seed(PILOT_SEED)
        try:
            return ResourceGrid(num_ofdm_symbols=c.symbols * c.slots, fft_size=c.fft_size, subcarrier_spacing=c.scs_khz * 1e3,
                                num_tx=1, num_streams_per_tx=1, cyclic_prefix_length=c.cp_length,
                                pilot_pattern="kronecker" if pilots else "empty", pilot_ofdm_symbol_indices=pilots or None,
                                device="cpu")
        finally:
            rng.set_state(state)

    @cached_property
    def layout(self) -> "GridLayout":
        return GridLayout.of(self.grid)

    def data_positions(self, n: int) -> torch.Tensor:
        """Indices into the frame's data elements (Sionna's order) of a block of n symbols: evenly spaced."""
        total = self.cfg.data_per_frame
        if n > total:
            raise SemclipError(
                f"{n} symbols do not fit in the frame of {self.spec}: it holds {total} data elements "
                f"({self.cfg.slots} slot(s) of {total // self.cfg.slots}); send fewer or give more slots (:slots<N>, at most {MAX_SLOTS})")
        return torch.arange(n, dtype=torch.long) * total // n

    # --- the channel model (Sionna's TDL / CDL) ------------------------------------------------
    def _model(self, device: torch.device):
        key = str(device)
        if key not in self._models:
            self._models[key] = make_model(self.cfg, key)
        return self._models[key]

    def draw(self, n: int, generator: torch.Generator | None = None, device: torch.device | None = None) -> torch.Tensor:
        """Path coefficients [n, paths, frame's OFDM symbols] complex64 of n independent frames."""
        device = torch.device(device or (generator.device if generator is not None else "cpu"))
        model = self._model(device)
        model.generator = generator
        try:
            a, tau = model(n, self.cfg.symbols * self.cfg.slots, 1.0 / self.cfg.symbol_duration_s)
        finally:
            model.generator = None
        self._delays.setdefault(str(device), tau.reshape(n, -1)[0])
        return a.reshape(n, a.shape[-2], a.shape[-1])

    def delays(self, device: torch.device) -> torch.Tensor:
        """The model's path delays [paths] in seconds: fixed by the profile and the delay
        spread (the same in every draw; read from one, without touching anyone's stream)."""
        if str(device) not in self._delays:
            self.draw(1, torch.Generator(device).manual_seed(0), device)
        return self._delays[str(device)]

    def common_fades(self, seed: int, snr_db: float, n: int, device: torch.device | None = None) -> torch.Tensor:
        """The path coefficients of images 0..n-1 for ``seed``: the same for every method, for
        both CSI modes and at every SNR (one set of frames behind a whole curve; drawing them is
        most of a link's cost, so the last few sets are kept; read-only)."""
        return _common_paths(self.cfg, seed, n, None if device is None else str(device))

    def _paths(self, batch: int, device: torch.device) -> torch.Tensor:
        """Path coefficients [batch, paths, symbols]: the next rows given with ``gains``, or drawn."""
        return self.next_fades(batch, device, lambda b, d: self.draw(b, self.generator, d))

    # --- capacity bounds over the frame -----------------------------------------------------
    def capacities(self, fades: torch.Tensor | None, snr_db: float, n: int, rows: int) -> torch.Tensor:
        """Each frame's capacity with CSI at the transmitter (the rate adapted to the frame),
        bits per channel use: the mean of log2(1 + |H_i|^2 SNR) over the n elements a block of
        n symbols occupies; ``fades``: the frames' path coefficients (drawn when None)."""
        return _frame_capacity(self.power_gains(self.draw(rows, self.generator) if fades is None else fades, n), snr_db)

    def power_gains(self, a: torch.Tensor, n: int) -> torch.Tensor:
        """|H_i|^2 [frames, n] on the host at the elements a block of n symbols occupies, for
        path coefficients ``a``."""
        lay, pos = self.layout, self.data_positions(n)
        return self.response(a, self.delays(a.device), lay.data_symbol[pos], lay.data_carrier[pos]).abs().pow(2).cpu()

    def outage_rate(self, snr_db: float, target: float, n: int, seed: int) -> float:
        """The rate whose outage over the frame (frame capacity below it) has probability
        ``target``: the target quantile of the frame capacity over 4000 frames of a stream of
        their own (not the evaluated images' frames; drawn once per link, seed and n)."""
        return float(torch.quantile(_frame_capacity(_outage_gains(self.cfg, seed, n), snr_db), target))

    def ergodic_rate(self, snr_db: float, n: int, seed: int) -> float:
        """The mean of the frame capacity over the same 4000 frames as ``outage_rate``: a code
        spread over many frames carries it without CSI at the transmitter."""
        return float(_frame_capacity(_outage_gains(self.cfg, seed, n), snr_db).mean())

    # --- the link ------------------------------------------------------------------------------
    def response(self, a: torch.Tensor, tau: torch.Tensor, symbol: torch.Tensor, carrier: torch.Tensor) -> torch.Tensor:
        """The channel's frequency response [B, m] at m resource elements (OFDM symbol,
        subcarrier index): sum over paths of a_p(t) exp(-j 2 pi f tau_p), as Sionna's
        ``cir_to_ofdm_channel`` (subcarrier frequencies centred on the carrier)."""
        symbol, carrier = symbol.to(a.device), carrier.to(a.device)
        if len(symbol) < self.cfg.fft_size:  # a few elements: each its own sum over paths
            return (a[:, :, symbol] * self._phases(tau, carrier)[None]).sum(1)
        # many (the pilots): whole OFDM symbols as one matrix product, then the elements asked for
        rows, where = torch.unique(symbol, return_inverse=True)
        full = a[:, :, rows].transpose(1, 2) @ self._phases(tau, torch.arange(self.cfg.fft_size, device=a.device))
        return full[:, where, carrier]

    def _phases(self, tau: torch.Tensor, carrier: torch.Tensor) -> torch.Tensor:
        """exp(-j 2 pi f tau_p) [paths, m] at the subcarriers ``carrier`` [m]."""
        f = (carrier.to(tau.device, torch.float64) - self.cfg.fft_size // 2) * (self.cfg.scs_khz * 1e3)
        angle = (-2 * math.pi * tau[:, None].double() * f[None, :]).float()
        return torch.polar(torch.ones_like(angle), angle)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float) -> ChannelOutput:
        """x: [B, n] complex64 (unit power per sample); snr_db: [B, 1] per resource element."""
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        var = snr_to_noise_var(snr)
        self.data_positions(x.shape[1])  # a block too long for the frame is refused before any draw
        a = self._paths(x.shape[0], x.device)
        n_pilots = len(self.layout.pilots) if self.cfg.csi == "ls" else 0
        noise = complex_noise(torch.Size((x.shape[0], x.shape[1] + n_pilots)), var, self.generator)
        return self.receive(x, a, var, noise[:, : x.shape[1]], noise[:, x.shape[1] :])

    def receive(self, x: torch.Tensor, a: torch.Tensor, var: torch.Tensor, noise: torch.Tensor,
                pilot_noise: torch.Tensor) -> ChannelOutput:
        """The link for given path coefficients ``a`` [B, paths, symbols], noise variance
        ``var`` [B, 1] and noise on the block's data elements [B, n] and on the pilots
        [B, pilots] (unused with perfect CSI): estimation and equalisation."""
        lay = self.layout
        pos = self.data_positions(x.shape[1])
        tau = self.delays(x.device)
        h = self.response(a, tau, lay.data_symbol[pos], lay.data_carrier[pos])
        y = h * x + noise
        if self.cfg.csi == "perfect":
            h_hat, err = h, torch.zeros_like(var)
        else:
            pilots = lay.pilots.to(x.device)
            yp = self.response(a, tau, lay.pilot_symbol, lay.pilot_carrier) * pilots + pilot_noise
            h_hat, err = ls_estimate(yp, pilots, var, lay.interpolation[pos].to(x.device))
        return equalise(y, h_hat, var + err, self.cfg.equalizer, self.unbiased)


@lru_cache(maxsize=4)
def _common_paths(cfg: OFDMLinkConfig, seed: int, n: int, device: str | None) -> torch.Tensor:
    from semclip.device import keyed_generator

    gen = keyed_generator(seed, cfg.realisation_key, None if device is None else torch.device(device))
    return OFDMLink(cfg).draw(n, gen, gen.device)


def _frame_capacity(gains: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Mean of log2(1 + g SNR) over each frame's elements: [frames, n] -> [frames]."""
    return torch.log2(1 + gains * 10 ** (snr_db / 10.0)).mean(1)


@lru_cache(maxsize=2)
def _outage_gains(cfg: OFDMLinkConfig, seed: int, n: int) -> torch.Tensor:
    """|H|^2 of the frames behind a link's outage rates: the same at every SNR, so drawn once."""
    from semclip.device import keyed_generator

    link = OFDMLink(cfg)
    return link.power_gains(link.draw(OUTAGE_FRAMES, keyed_generator(seed, f"{cfg.realisation_key}|outage", torch.device("cpu"))), n)


@dataclass(frozen=True)
class GridLayout:
    """Where a frame's data and pilots sit, and Sionna's LS interpolation as a matrix:
    ``interpolation`` [data elements, pilots] gives each data element's estimate from the
    pilots' LS estimates (linear in them, so read from Sionna's interpolator once)."""

    data_symbol: torch.Tensor
    data_carrier: torch.Tensor
    pilot_symbol: torch.Tensor
    pilot_carrier: torch.Tensor
    pilots: torch.Tensor  # [pilots] complex64, the transmitted pilot values
    interpolation: torch.Tensor  # [data elements, pilots] complex64

    @classmethod
    def of(cls, grid) -> "GridLayout":
        kind = grid.build_type_grid()[0, 0]  # [symbols, fft]: 0 data, 1 pilot, 2 guard, 3 DC
        data = (kind == 0).nonzero()
        pil = (kind == 1).nonzero()
        pilots = grid.pilot_pattern.pilots[0, 0].to(torch.complex64)
        return cls(data[:, 0], data[:, 1], pil[:, 0], pil[:, 1], pilots, interpolation_matrix(grid, kind))


def interpolation_matrix(grid, kind: torch.Tensor) -> torch.Tensor:
    """Sionna's ``LinearInterpolator`` applied to each unit pilot estimate: column j is the
    estimate on every data element when pilot j reads 1 and the others 0."""
    n_pilots = int((kind == 1).sum())
    if n_pilots == 0:
        return torch.zeros(int((kind == 0).sum()), 0, dtype=torch.complex64)
    from sionna.phy.ofdm.channel_estimation import LinearInterpolator

    interp = LinearInterpolator(grid.pilot_pattern, device="cpu")
    eye = torch.eye(n_pilots, dtype=torch.complex64).reshape(n_pilots, 1, 1, 1, 1, n_pilots)
    est, _ = interp(eye, torch.zeros(n_pilots, 1, 1, 1, 1, n_pilots))
    est = est.reshape(n_pilots, *kind.shape)  # [unit pilot, symbols, effective subcarriers]
    return est[:, kind == 0].t().contiguous()


def ls_estimate(y_pilots: torch.Tensor, pilots: torch.Tensor, noise_var: torch.Tensor,
                weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LS at the pilots (y / p, error variance sigma^2 / |p|^2), interpolated onto the data
    elements by ``weights`` [m, pilots] as Sionna's interpolator does (the error variance
    interpolated as it is there): (estimates [B, m], error variances [B, m])."""
    h_ls = y_pilots / pilots[None]
    err = (noise_var / pilots.abs().pow(2)[None]).to(torch.complex64)
    return h_ls @ weights.t(), (err @ weights.t()).real.clamp(min=0)


def equalise(y: torch.Tensor, h_hat: torch.Tensor, s: torch.Tensor, equalizer: str, unbiased: bool = False) -> ChannelOutput:
    """Per element, Sionna's SISO LMMSE (or ZF) equaliser with noise plus estimation error
    ``s`` [B, m], returned in ``ChannelOutput``'s form (see the module docstring); ``unbiased``:
    the LMMSE output divided by its gain, as Sionna's equaliser returns it."""
    g = h_hat.abs().pow(2)
    share = g / (g + s)  # the MMSE output's signal share b = sinr / (1 + sinr)
    if equalizer == "zf":
        y_eq, gain, noise = y / h_hat, torch.ones_like(g), s / g.clamp(min=1e-12)
    elif unbiased:
        y_eq, gain, noise = h_hat.conj() * y / g.clamp(min=1e-12), torch.ones_like(g), (1 - share) / share.clamp(min=1e-12)
    else:
        y_eq, gain, noise = h_hat.conj() * y / (g + s), share, share * (1 - share)
    mean = share.mean(dim=1, keepdim=True).clamp(1e-9, 1 - 1e-9)
    rx_snr = 10 * torch.log10(mean / (1 - mean))
    return ChannelOutput(y_eq, None, noise, rx_snr, gain)


def make_model(cfg: OFDMLinkConfig, device: str):
    """Sionna's TDL or CDL for the link (single antennas; CDL downlink), drawing from the
    generator set on it (``model.generator``) or, when None, from Sionna's own."""
    from sionna.phy.channel.tr38901 import CDL, TDL, AntennaArray

    speed = cfg.speed_kmh / 3.6
    common = dict(delay_spread=cfg.delay_spread_ns * 1e-9, carrier_frequency=cfg.carrier_ghz * 1e9, min_speed=speed,
                  device=device)
    if cfg.model == "tdl":
        return _seeded(TDL)(cfg.profile, **common)
    arr = dict(num_rows=1, num_cols=1, polarization="single", polarization_type="V", antenna_pattern="omni",
               carrier_frequency=cfg.carrier_ghz * 1e9)
    return _seeded(CDL)(cfg.profile, ut_array=AntennaArray(**arr), bs_array=AntennaArray(**arr), direction="downlink",
                        max_speed=speed, **common)


_SEEDED: dict[type, type] = {}


def _seeded(cls: type) -> type:
    """``cls`` drawing its random numbers from ``self.generator`` when set (common random
    numbers keyed by seed and SNR), else from Sionna's configured generator."""
    if cls not in _SEEDED:
        def torch_rng(self):
            return self.generator if getattr(self, "generator", None) is not None else cls.torch_rng.fget(self)

        _SEEDED[cls] = type(f"Seeded{cls.__name__}", (cls,), {"torch_rng": property(torch_rng), "generator": None})
    return _SEEDED[cls]


@CHANNELS.register("ofdm-tdl", "OFDM over a 3GPP TR 38.901 TDL channel (Sionna): multipath, Doppler, LS-estimated or "
                   "perfect CSI; defaults C, 300 ns, 3 km/h, LS; more: <GHz>ghz <kHz>khz fft<N> cp<N> sym<N> pilots<i>+<j> "
                   "slots<N> zf (docs/channels.md)", arg=SHORT_GRAMMAR)
def _ofdm_tdl(arg: str = "", generator: torch.Generator | None = None) -> OFDMLink:
    return OFDMLink(parse_link("tdl", arg), generator)


@CHANNELS.register("ofdm-cdl", "OFDM over a 3GPP TR 38.901 CDL channel (Sionna, single antennas, downlink); the same "
                   "settings as ofdm-tdl", arg=SHORT_GRAMMAR)
def _ofdm_cdl(arg: str = "", generator: torch.Generator | None = None) -> OFDMLink:
    return OFDMLink(parse_link("cdl", arg), generator)


