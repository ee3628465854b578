"""The token codec's configuration (shared by the learned codec and the linear reference)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace

from semclip.errors import SemclipError

DEFAULT_KS = (4, 8, 16, 32, 64)


@dataclass
class JSCCConfig:
    """d: token size; ks: the bandwidths (complex channel uses per token) one checkpoint
    serves; k: the one this codec (or view, ``TokenJSCC.at``) sends; csi: the decoder
    takes h as input."""

    dim: int = 512
    ks: list[int] = field(default_factory=lambda: list(DEFAULT_KS))
    k: int | None = None  # None: the largest of ks
    width: int = 512
    depth: int = 2
    csi: bool = False
    linear_base: bool = True  # the linear code (principal directions + MMSE receiver) under the learned residuals

    def __post_init__(self) -> None:
        self.ks = sorted(set(self.ks))
        if not self.ks or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0 for k in self.ks):
            raise SemclipError(f"ks (complex symbols per token) must be positive integers, got {self.ks!r}")
        if self.k is None:
            self.k = self.ks[-1]
        if self.k not in self.ks:
            raise SemclipError(f"this codec serves k in {self.ks}, not k={self.k!r}: pick one of those or train a codec for it")
        if self.dim <= 0 or self.width <= 0 or self.depth < 0:
            raise SemclipError(f"invalid JSCC sizes: {asdict(self)}")

    @property
    def k_max(self) -> int:
        return self.ks[-1]


class ServesK:
    """``at(k)``: the same code (weights and statistics shared) sending k symbols per token;
    the learned codec and the linear reference both offer it."""

    cfg: JSCCConfig

    def at(self, k: int):
        view = copy.copy(self)
        view.cfg = replace(self.cfg, k=k)  # validates k against cfg.ks
        return view
