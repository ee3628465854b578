"""The 1000 ImageNet class names: what the benchmark suite labels ImageNet's folders with
and the vocabulary PocketCLIP's heads and the codec's text bank are built from."""

from __future__ import annotations

import json
from pathlib import Path

NAMES = Path(__file__).parent / "assets" / "imagenet_classes.json"


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names (CLIP's cleaned list), in classifier order."""
    return json.loads(NAMES.read_text())
