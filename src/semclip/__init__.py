"""semclip: zero-shot semantic communication with multimodal foundation models.

The library, one sub-package per stage, in its import order (each imports only those
before it; ``tests/test_layers.py`` checks it): the ground modules (errors, I/O, the
results schema and intervals, provenance, artefacts, device and process policy, digests,
the training loop, the registry mechanism, settings), then ``data -> backbones -> tokens
-> channels -> tasks -> jscc -> prompts -> baselines -> eval -> job`` (the main job's
stages); ``semclip.app`` holds the commands built on it (the library never imports it).
The names below are the public API.
"""

from semclip.backbones import Backbone, create_backbone, list_backbones
from semclip.channels import AWGN, RayleighBlockFading, create_channel, list_channels
from semclip.data import create_dataset, list_datasets
from semclip.errors import SemclipError
from semclip.eval import Record, Results
from semclip.jscc import AllocatedLinearCode, JSCCConfig, LinearCode, TokenJSCC, load_jscc, save_jscc, train_jscc
from semclip.jscc.zoo import default_codec
from semclip.prompts import PromptConfig, PromptLearner, PromptTrainConfig, create_learner, list_learners, load_prompts, train_prompts
from semclip.tasks import ZeroShotClassifier

__version__ = "0.1.0"
__all__ = [
    "AWGN",
    "AllocatedLinearCode",
    "Backbone",
    "JSCCConfig",
    "LinearCode",
    "PromptConfig",
    "PromptLearner",
    "PromptTrainConfig",
    "RayleighBlockFading",
    "Record",
    "Results",
    "SemclipError",
    "TokenJSCC",
    "ZeroShotClassifier",
    "create_backbone",
    "create_channel",
    "create_dataset",
    "create_learner",
    "default_codec",
    "list_backbones",
    "list_channels",
    "list_datasets",
    "list_learners",
    "load_jscc",
    "load_prompts",
    "save_jscc",
    "train_jscc",
    "train_prompts",
]
