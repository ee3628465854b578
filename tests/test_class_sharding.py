"""Class-sharded prompt training's pieces in one process: scoring a slice of the rows while
the class embeddings see the whole batch gives the whole batch's scores for those rows, for
every kind of learner (one set of classes, one per SNR group, one per row), and the class
slices cover every class once. Two processes (gloo) are checked end to end against one in
tests/test_distributed.py."""

from __future__ import annotations

import pytest
import torch

from semclip.distributed import Dist
from semclip.prompts import create_learner
from semclip.prompts.train import PromptTrainConfig, recipe
from semclip.errors import SemclipError

CLASSES = ["cat", "dog", "bird", "fish", "tree"]


@pytest.mark.parametrize("name", ["coop", "cocoop", "tapl"])
def test_scoring_a_slice_of_rows_equals_slicing_the_whole_batch(clip, name):
    torch.manual_seed(0)
    learner = create_learner(name, clip, k=4)
    tokens = torch.nn.functional.normalize(torch.randn(8, clip.dim), dim=-1)
    snr = torch.tensor([[-5.0], [0.0], [10.0], [20.0]]).repeat(2, 1)  # several SNR groups
    with torch.no_grad():
        whole, text, image = learner.score_parts(tokens, snr, CLASSES)
        for rows in (slice(0, 4), slice(4, 8), slice(2, 5)):
            part, text_p, image_p = learner.score_parts(tokens, snr, CLASSES, rows)
            assert torch.allclose(part, whole[rows], atol=1e-5) and torch.allclose(image_p, image[rows], atol=1e-6)


def test_class_slices_cover_every_class_once():
    for world in (1, 2, 3, 4, 8):
        for n in (1, 5, 7, 1000):
            slices = [Dist(r, world, torch.device("cpu")).class_slice(n) for r in range(world)]
            covered = [c for lo, hi in slices for c in range(lo, hi)]
            assert covered == list(range(n)), (world, n, slices)
    text = torch.randn(2, 5, 3)
    assert Dist(0, 1, torch.device("cpu")).gather_classes(text, 5) is text  # one process: nothing to gather


def test_the_split_names_no_artefact_and_must_be_known():
    assert recipe(PromptTrainConfig(split="classes")) == recipe(PromptTrainConfig())  # how, not what
    with pytest.raises(SemclipError, match="unknown prompt split 'images'"):
        PromptTrainConfig(split="images")
