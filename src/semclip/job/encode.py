"""The encode stage: the evaluation sets' tokens (cached), and the codec's training images,
whose tokens are encoded only if a part trained on them must be trained."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semclip.backbones.base import Backbone
from semclip.data.base import LabelledImages
from semclip.data.registry import create_dataset
from semclip.errors import SemclipError
from semclip.job.config import DataConfig
from semclip.tasks.zeroshot import ZeroShotClassifier
from semclip.tokens.cache import Tokens, dataset_tokens, lazy_tokens


@dataclass
class EvalSet:
    """One evaluation set's (cached) tokens, labels and zero-shot classifier."""

    data: LabelledImages
    tokens: torch.Tensor
    labels: torch.Tensor
    classifier: ZeroShotClassifier

    @classmethod
    def of(cls, backbone: Backbone, data: LabelledImages) -> "EvalSet":
        tokens, labels = dataset_tokens(backbone, data)
        if data.skipped:  # unreadable images (reported): the baselines read the rest, row for row with the tokens
            from semclip.data.listed import SubsetImages

            data = SubsetImages(data, sorted(set(range(len(data))) - set(data.skipped)))
        return cls(data, tokens, labels, ZeroShotClassifier(backbone, data.classes))


@dataclass
class DataSets:
    """The job's datasets, made and checked before anything is computed."""

    test: LabelledImages
    train: LabelledImages
    transfer: LabelledImages | None

    @classmethod
    def of(cls, cfg: DataConfig) -> "DataSets":
        test = create_dataset(cfg.dataset, limit=cfg.test_limit)
        train = create_dataset(cfg.train_dataset, limit=cfg.train_limit)
        if train.cache_id == test.cache_id:
            raise SemclipError("the JSCC training set and the evaluation set are the same: pick another --train-dataset")
        transfer = create_dataset(cfg.transfer_dataset, limit=cfg.test_limit) if cfg.transfer_dataset else None
        return cls(test, train, transfer)


@dataclass
class Encoded:
    """The encode stage's result: the evaluation sets (the main one first) and the codec's
    training images with their lazily encoded tokens."""

    evals: list[EvalSet]
    train: LabelledImages
    train_tokens: Tokens

    @property
    def main(self) -> EvalSet:
        return self.evals[0]


def encode(backbone: Backbone, sets: DataSets) -> Encoded:
    evals = [EvalSet.of(backbone, sets.test)]
    if sets.transfer is not None:
        evals.append(EvalSet.of(backbone, sets.transfer))
    return Encoded(evals, sets.train, lazy_tokens(backbone, sets.train))
