"""The main job's settings, one dataclass per stage; each field made with ``setting`` is a
user setting with its help, from which ``semclip demo``'s options and the experiment-file
schema are generated. ``semclip.app.demo.DemoConfig`` composes them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semclip.backbones.registry import backbone_setting
from semclip.channels.base import as_snr_tensor
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.errors import SemclipError
from semclip.eval.views import VIEW_BUDGETS, VIEW_SNRS
from semclip.jscc.adapt import AdaptConfig
from semclip.jscc.config import DEFAULT_KS, JSCCConfig
from semclip.jscc.train import JSCCTrainConfig
from semclip.jscc.zoo import CODEC_DATASET
from semclip.prompts.registry import learner_config
from semclip.prompts.train import PromptTrainConfig
from semclip.settings import setting

DEFAULT_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)
# the main job's realistic link: 3GPP TDL-C, 300 ns, a pedestrian and a vehicle, pilots and LS estimation
MAIN_LINKS = ("ofdm-tdl:C:300ns:3kmh:ls", "ofdm-tdl:C:300ns:120kmh:ls")
LINK_METHODS = ("semclip", "pca")  # the codes swept over the links (the learned codec and its linear floor)


def check_snrs(snrs_db: list[float]) -> None:
    as_snr_tensor(torch.tensor(snrs_db, device="cpu"), len(snrs_db))


@dataclass
class DataConfig:
    """The encode stage: which backbone, what the job evaluates, what the codec learns from."""

    backbone: str = backbone_setting()
    # main evaluation set: a domain the default codec never saw
    dataset: str = setting("fashion-mnist:test", help="Evaluation set: any dataset spec (see `semclip datasets`).")
    # second one: unseen images, class names no codec loss used
    transfer_dataset: str | None = setting("clipart:test", help="Second evaluation set, for clean, pca and semclip ('' to skip).")
    train_dataset: str = setting(CODEC_DATASET, help="Images whose tokens train the codec ('+' joins datasets; #N limits one).")
    test_limit: int | None = setting(None, help="Use only N test images (the first N; spread over the classes for on-disk sets).")
    train_limit: int | None = setting(None, help="Use only N training images for the codec (spread over the set).")


@dataclass
class GridConfig:
    """Where every stage measures: bandwidths, channels, SNRs, the seed of the noise."""

    k: int = setting(16, help="Complex channel uses per image for the tables, prompts and baselines (one of --ks).")
    ks: list[int] = setting(factory=lambda: list(DEFAULT_KS),
                            help="Bandwidths the one codec serves (comma-separated); all are swept at --k-sweep-snr.")
    k_sweep_snr_db: float = setting(10.0, help="SNR (dB, AWGN) of the accuracy-vs-k sweep.", flag="k_sweep_snr")
    channels: list[str] = setting(factory=lambda: ["awgn", "rayleigh"],
                                  help="Comma-separated channels: awgn, rayleigh[:mmse|zf|decoder|none] (`semclip list channels`).")
    snrs_db: list[float] = setting(factory=lambda: list(DEFAULT_SNRS), help="Comma-separated SNRs in dB.", flag="snrs")
    links: list[str] = setting(factory=lambda: list(MAIN_LINKS),
                               help=("OFDM links (3GPP TDL/CDL, `semclip list channels`) over which semclip and pca are also "
                                     "swept on the main set ('' for none)."))
    seed: int = setting(0, help="Seed for training and channel noise.", shared=True)

    def validate(self) -> None:
        JSCCConfig(ks=self.ks, k=self.k)  # raises on a k not among ks
        check_snrs(self.snrs_db)
        as_snr_tensor(self.k_sweep_snr_db, 1)
        recipes = {create_channel(ch).codec_recipe for ch in self.channels}
        for link in self.links:
            if create_channel(link).codec_recipe not in recipes:
                raise SemclipError(f"link {link} needs a codec of its own, which no channel of --channels brings: add the "
                                   "link to --channels, or use an LMMSE link (served by the AWGN + Rayleigh codec)")


@dataclass
class CodecsConfig:
    """The codecs stage: the token codec's training, and the two codecs beside it."""

    # its channels come from the job's (each channel's codec recipe), so they are no flag of their own here
    jscc: JSCCTrainConfig = setting(factory=JSCCTrainConfig, help="How the token codec trains.", rename={"channels": None})
    # in-domain reference codec on the main set; None to skip
    reference_dataset: str | None = setting("corpus+fashion-mnist:train#10000",
                                            help="Images of an in-domain reference codec, scored on --dataset ('' to skip).")
    # the sender's own unlabelled images (a training split of the main set's domain) the default codec's transmitter
    # adapts on (semclip.jscc.adapt, mode transmitter: the receiver unchanged); None to skip
    adapt_dataset: str | None = setting("fashion-mnist:train#1000", help=(
        "Unlabelled images of the sender's domain (a training split) the default codec's transmitter adapts on, "
        "scored on --dataset ('' to skip)."))
    adapt: AdaptConfig = setting(factory=AdaptConfig, help="How the transmitter adapts.")


@dataclass
class PromptStageConfig:
    """The prompts stage: base-to-novel receiver prompt learning on the main set."""

    learners: list[str] = setting(factory=lambda: ["coop", "tapl"], help="Prompt learners for the base-to-novel part ('' to skip).")
    shots_dataset: str = setting("fashion-mnist:train", help="Few-shot pool for the prompt learners (the test set's classes).")
    shots_limit: int | None = setting(10000, help="Few-shot pool: its first N images.")
    train: PromptTrainConfig = setting(factory=PromptTrainConfig, help="How the prompts train.")

    def validate(self) -> None:
        for name in self.learners:
            learner_config(name)


@dataclass
class ViewsConfig:
    """The views stage: semclip against the baselines at equal energy and equal bandwidth."""

    enabled: bool = setting(True, help="Also compare at equal energy per image and at equal bandwidth (channel uses).",
                            flag="views")
    snrs_db: list[float] = setting(factory=lambda: list(VIEW_SNRS), help="SNRs of the equal-bandwidth view.", flag="view_snrs")
    budgets: list[int] = setting(factory=lambda: list(VIEW_BUDGETS), help="The image baselines' channel uses there.",
                                 flag="view_budgets")
    limit: int | None = setting(500, help="Images of the equal-bandwidth view (the first N of the baselines').", flag="view_limit")

    def validate(self) -> None:
        if self.enabled:
            check_snrs(self.snrs_db)
            if self.limit is not None and self.limit < 1:
                raise SemclipError(f"view_limit must be at least 1 image, got {self.limit}")


@dataclass
class RetrievalConfig:
    """The retrieval stage: image-text retrieval with received tokens."""

    dataset: str | None = setting("clipart:test", help="Captioned images for image-text retrieval ('' to skip).",
                                  flag="retrieval_dataset")

    def validate(self) -> None:
        if self.dataset and not hasattr(create_dataset(self.dataset, limit=1), "captions"):
            raise SemclipError(f"{self.dataset} has no captions: retrieval needs a captioned dataset such as clipart:test")
