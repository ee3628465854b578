"""Several labelled sets as one (``create_dataset("a+b")``): e.g. a codec trained on tokens of
more than one domain. Class lists are merged (first occurrence wins) and labels remapped."""

from __future__ import annotations

import bisect

import numpy as np
from PIL import Image

from semclip.data.base import LabelledImages


class ConcatImages(LabelledImages):
    def __init__(self, parts: list[LabelledImages]) -> None:
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.classes: list[str] = []
        labels = []
        for p in parts:
            for c in p.classes:
                if c.lower() not in {x.lower() for x in self.classes}:
                    self.classes.append(c)
            lower = [x.lower() for x in self.classes]
            remap = np.array([lower.index(c.lower()) for c in p.classes], dtype=np.int64)
            labels.append(remap[p.labels])
        self._labels = np.concatenate(labels)
        self._offsets = np.cumsum([0] + [len(p) for p in parts]).tolist()

    def __len__(self) -> int:
        return self._offsets[-1]

    def image(self, i: int) -> Image.Image:
        part = bisect.bisect_right(self._offsets, i) - 1
        return self.parts[part].image(i - self._offsets[part])

    @property
    def cache_id(self) -> str:
        return "+".join(p.cache_id for p in self.parts)
