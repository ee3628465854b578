"""The receiver every image baseline ends at: the same frozen backbone and zero-shot
classifier as semclip, applied to whatever image arrived. Tokens of images that arrive
intact (the JPEG at quality q of test image i, or the grey frame) are computed once and
reused across SNRs and MCSs."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from PIL import Image

from semclip.backbones.base import Backbone
from semclip.backbones.stream import encode_images


class ImageReceiver:
    def __init__(self, backbone: Backbone, batch_size: int = 64, workers: int | None = None) -> None:
        """``workers``: processes decoding the received pictures (None: the run's ``--workers``)."""
        self.backbone = backbone
        self.batch_size = batch_size
        self.workers = workers
        self._cache: dict[Hashable, torch.Tensor] = {}

    def __contains__(self, key: Hashable) -> bool:
        """Whether the tokens of the picture cached under ``key`` are held."""
        return key in self._cache

    @torch.no_grad()
    def tokens(self, images: Sequence[Image.Image | None], keys: Sequence[Hashable | None]) -> torch.Tensor:
        """images: B received images (None where ``key`` is held: not needed); keys: a cache
        key per image (None: do not cache, e.g. an image corrupted by undetected errors)
        -> tokens [B, d]."""
        todo = [i for i, k in enumerate(keys) if k is None or k not in self._cache]
        if any(images[i] is None for i in todo):
            raise ValueError("a received picture is missing and its tokens are not held")
        fresh = {}
        if todo:
            enc = encode_images(self.backbone, Listed(images), todo, self.batch_size, workers=self.workers)
            fresh = dict(zip(todo, enc))
            for i in todo:
                if keys[i] is not None:
                    self._cache[keys[i]] = fresh[i]
        return torch.stack([fresh[i] if i in fresh else self._cache[keys[i]] for i in range(len(images))])


class Listed:
    """``load(i)`` over images held in memory, picklable (decoding worker processes get a copy)."""

    def __init__(self, images: Sequence[Image.Image | None]) -> None:
        self.images = list(images)

    def __call__(self, i: int) -> Image.Image | None:
        return self.images[i]
