"""What every baseline method shares: its settings (``BaselineConfig``), the test images
and receiver (``Context``), one SNR's result (``Outcome``), the ``Baseline`` interface and
the registry of methods (``BASELINES``). Each method is one file under
``semclip/baselines/methods/`` that registers itself; ``semclip.baselines.run`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from semclip.backbones.base import Backbone
from semclip.baselines.adaptation import LINK_ADAPTATIONS, check_target
from semclip.baselines.digital import DECODERS, DEFAULT_MCS, MCS
from semclip.baselines.image_jscc import ImageJSCCConfig, ImageJSCCTrainConfig
from semclip.baselines.jpeg import MAX_SIDE, MIN_SIDE, JpegImage
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.device import keyed_generator
from semclip.errors import SemclipError
from semclip.registry import Registry
from semclip.results import Record
from semclip.settings import setting
from semclip.stats import pack_outcomes
from semclip.tasks.zeroshot import ZeroShotClassifier

# every baseline method, by name (``semclip.registry``): each registers itself in its own file
BASELINES: Registry["Baseline"] = Registry("baseline", builtins=tuple(
    f"semclip.baselines.methods.{m}" for m in ("image_jpeg_ldpc", "image_capacity", "image_outage", "image_jscc", "token_digital")))

# built in, run only when named: the ergodic bound assumes a code spread over many independent
# fades, which one image over one block (or one frame) never has; it is a long-delay reference,
# not a bound for the transmissions compared here
ON_REQUEST = ("image-ergodic",)


@dataclass
class BaselineConfig:
    """What the baselines run on. ``limit``: test images (the digital chains decode real
    LDPC codewords, about 5-80 ms each on 2 cores). ``budget``: complex channel uses per
    image for the JPEG baselines. ``mcs``: the modulation-and-coding table link adaptation chooses from.
    ``token_bits``: bit widths tried for token-digital. ``link_adaptation``: ``bler`` (the
    MCS from block error rates on ``probe_payloads`` random payloads against
    ``target_bler``; never the test labels) or ``oracle`` (the best by test accuracy)."""

    methods: list[str] = setting(factory=lambda: [m for m in BASELINES.builtin_names() if m not in ON_REQUEST], flag="baselines",
                                 help="Baselines ('' to skip; `semclip list baselines`; image-ergodic only when named).")
    limit: int | None = setting(2000, help="Run the baselines on the first N test images.", flag="baseline_limit")
    budget: int = setting(1024, help="Channel uses per image for the JPEG baselines.")
    mcs: list[str] = field(default_factory=lambda: list(DEFAULT_MCS))
    token_bits: list[int] = field(default_factory=lambda: [1, 2])
    image_jscc: ImageJSCCConfig | None = None  # None: fitted to the test images (auto_config)
    image_jscc_train: ImageJSCCTrainConfig = setting(factory=ImageJSCCTrainConfig, help="How the image-jscc baseline's codec trains.")
    num_iter: int = 20
    batch_size: int = 125
    decoder: str = "layered"  # LDPC decoder: layered offset min-sum (ours, compiled) or "sionna" (flooding BP)
    link_adaptation: str = setting("bler", old={"mcs_oracle": "oracle"}, help=(
        "How the digital baselines choose their MCS and bit width: bler (from block error rates on random payloads, "
        "label-free) or oracle (by accuracy on the test labels, an oracle no real link has; every record says so)."))
    target_bler: float = setting(0.1, help="Block error rate the digital baselines' link adaptation aims at (on random payloads).")
    probe_payloads: int = 200  # random payloads per (channel, MCS, SNR) to measure BLER
    jpeg_sides: list[int] | None = setting(None, help=(
        "Pixels of the longer side the JPEG baselines may send a picture at, e.g. 28 for the paper's fixed resolution "
        "('': 1, 5/7, 1/2, 5/14 and 1/4 of the test images' side)."))

    def validate(self) -> None:
        for method in self.methods:
            BASELINES.entry(method)  # an unknown name: one line naming the known ones
        for spec in self.mcs:
            MCS.parse(spec)
        if self.decoder not in DECODERS:
            raise SemclipError(f"unknown LDPC decoder {self.decoder!r}; choose from {list(DECODERS)}")
        if self.budget < 16 or (self.limit is not None and self.limit < 1):
            raise SemclipError(f"baseline budget must be >= 16 channel uses and limit >= 1 (got {self.budget}, {self.limit})")
        if not self.token_bits or any(not 1 <= b <= 16 for b in self.token_bits):
            raise SemclipError(f"token bit widths must be in 1..16, got {self.token_bits}")
        if self.link_adaptation not in LINK_ADAPTATIONS:
            raise SemclipError(f"unknown link adaptation {self.link_adaptation!r}; choose from {list(LINK_ADAPTATIONS)}")
        check_target(self.target_bler)
        if self.jpeg_sides is not None and (not self.jpeg_sides or any(not MIN_SIDE <= s <= MAX_SIDE for s in self.jpeg_sides)):
            raise SemclipError(f"JPEG sides must be pixels in {MIN_SIDE}..{MAX_SIDE} (and at most the test images' side), "
                               f"got {self.jpeg_sides}")
        if self.probe_payloads < 10:
            raise SemclipError(f"probe_payloads must be at least 10 to measure a BLER, got {self.probe_payloads}")

    @property
    def mcs_table(self) -> list[MCS]:
        """Ascending spectral efficiency: the search order."""
        return sorted({MCS.parse(s) for s in self.mcs}, key=lambda m: (m.efficiency, m.bits_per_symbol))


@dataclass
class Context:
    """What every baseline shares: the receiver and the test subset."""

    backbone: Backbone
    classifier: ZeroShotClassifier
    images: list[Image.Image]  # the test subset, as stored
    labels: torch.Tensor  # [N]
    tokens: torch.Tensor  # [N, d] clean tokens of the same images (token-digital's source)
    quantizer: Callable[[int], TokenQuantizer]  # bits -> token-digital's quantiser (fitted on training tokens)
    image_train: LabelledImages | None  # trains image-jscc: the task-agnostic corpus
    dataset_id: str
    seed: int = 0
    indomain_train: LabelledImages | None = None  # trains image-jscc-indomain: the main set's training images
    jpegs: list[JpegImage] | None = None  # the test images' JPEG ladders, made by the first JPEG baseline and kept


@dataclass
class Outcome:
    """One configuration's result at one SNR."""

    correct: torch.Tensor  # [N] bool: which test images the receiver got right
    uses: float
    lost: float  # fraction of images (or tokens) with a failed block
    detail: str

    @property
    def acc(self) -> float:
        return float(self.correct.float().mean())


STOP_DROP = 0.1  # accuracy below the best so far by this much ends the MCS search


def best_over_mcs(table: Sequence[MCS], evaluate: Callable[[MCS], Outcome]) -> Outcome:
    """Walk up the MCS table (ascending efficiency); keep the most accurate (then the
    cheapest). Stop once an MCS loses every block, or falls ``STOP_DROP`` below the best:
    more efficient MCSs need a higher SNR still, so they lose more (AWGN: all; fading:
    more blocks in outage). This saves decoding thousands of hopeless codewords."""
    best = None
    for mcs in table:
        o = evaluate(mcs)
        if best is None or (o.acc, -o.uses) > (best.acc, -best.uses):
            best = o
        if o.lost >= 1.0 or o.acc < best.acc - STOP_DROP:
            break
    return best


def common_fades(ctx: Context, spec: str, snr: float) -> torch.Tensor | None:
    """The test images' fades at this SNR on a fading channel (``Channel.common_fades``: the same
    for every method, semclip's sweep included); None on AWGN."""
    return create_channel(spec).common_fades(ctx.seed, snr, len(ctx.labels))


def capacities(ctx: Context, spec: str, snr: float, uses: int) -> torch.Tensor:
    """Each test image's capacity at this SNR, bits per channel use over the ``uses`` symbols
    it sends, on its own (common) channel, on the host (``Channel.capacities``)."""
    return create_channel(spec).capacities(common_fades(ctx, spec, snr), snr, uses, len(ctx.labels))


def channel_generator(seed: int, spec: str) -> torch.Generator:
    """Each (seed, channel) its own stream on the run's device: a configuration's draws do
    not depend on which others ran before it, or on which process ran it."""
    return keyed_generator(seed, spec, digits=6)


def make_record(method: str, spec: str, snr: float, o: Outcome, n: int, receiver: str | None, link_adaptation: str | None = None) -> Record:
    """A record of the channel ``spec`` (its name and CSI mode, so methods compare per channel),
    with ``receiver`` saying what the chain really did there (digital chains equalise by zero
    forcing whatever the mode; the capacity bound adapts to h at the transmitter)."""
    return Record(
        method=method, **create_channel(spec).sent(o.uses, 1), receiver=receiver, snr_db=float(snr), value=o.acc, detail=o.detail,
        n_images=n, n=n, link_adaptation=link_adaptation, outcomes=pack_outcomes(o.correct.tolist()),
    )


class Baseline:
    """One baseline method. A method is one file under ``semclip/baselines/methods/`` that
    subclasses this and registers it (``register_baseline``); ``run`` sends the test images
    over one channel at every SNR and returns one record per SNR. Made afresh for every
    ``run_baselines`` call, so it may keep what ``prepare`` trained."""

    name = "baseline"
    needs_csi = True  # a coherent digital receiver: not run on rayleigh:none

    def trained_on(self, ctx: Context) -> str | None:
        """The content id of the images it learned from (part of its cache key), if any."""
        return None

    def prepare(self, cfg: BaselineConfig, ctx: Context, log: Callable[[str], None]) -> None:
        """Train or load what ``run`` needs (the main process first, then the others)."""

    def read_back(self, cfg: BaselineConfig, ctx: Context) -> None:
        """Its records come from the cache: still name the trained parts that made them."""

    def run(self, ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], receiver: ImageReceiver,
            tick: Callable[[], None]) -> list[Record]:
        raise NotImplementedError


def register_baseline(doc: str, **kwargs: object) -> Callable[[type[Baseline]], type[Baseline]]:
    """Class decorator: register the method under its ``name`` (``kwargs`` go to its
    constructor: one class may register several named variants)."""

    def wrap(cls: type[Baseline]) -> type[Baseline]:
        name = kwargs.get("name", cls.name)

        def make(arg: str = "") -> Baseline:
            if arg:
                raise SemclipError(f"unknown baseline '{name}:{arg}': baselines take no argument")
            return cls(**kwargs)

        BASELINES.add(str(name), make, doc, module=cls.__module__)
        return cls

    return wrap
