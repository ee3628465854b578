"""The results.json schema, shared by every method (later baselines add records)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from semclip._io import atomic_write_text
from semclip.errors import SemclipError
from semclip.stats import wilson

# 2: ``view`` (which measurement a record belongs to) split from ``split`` (which classes it scores); files of
# version 1 are read by moving a view that version 1 kept in ``split`` into ``view`` (``Record._legacy``).
# 3: ``pilot_overhead`` (OFDM links); version-2 files read as they are
SCHEMA_VERSION = 3
# what is scored: all classes, a half of them (base-to-novel; "hm" their harmonic mean), or a dataset's role in the
# cross-dataset protocol; every other value version 1 wrote in ``split`` is a view
SPLITS = ("all", "base", "novel", "hm", "source", "target")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    task: str = "zero-shot-classification"
    split: str = "all"  # what is scored (``SPLITS``): all classes, the base or novel half, "hm", or source / target
    # which measurement: "all" (the channel x SNR grid), "k-sweep", "subset" (semclip on the baselines' images),
    # "equal-energy", "bandwidth" (semclip.eval.views), or a retrieval direction ("image-to-text", "text-to-image")
    view: str = "all"
    # "none" (clean), "awgn", "rayleigh", or any registered channel's name; an OFDM link's name holds
    # its model (``ofdm-tdl:C:300ns:120kmh``) and ``csi`` its receiver's knowledge ("ls", "perfect")
    channel: str
    csi: str | None = None  # a fading channel's CSI mode ("mmse", "zf", "decoder", "none"); None otherwise
    # how the method's own receiver used that channel, where it differs from the mode's name: the
    # digital chains equalise by zero forcing ("zf"), the capacity bound adapts its rate to h ("csit")
    receiver: Literal["mmse", "zf", "decoder", "none", "csit"] | None = None
    snr_db: float | None
    metric: str = "top1"
    value: float = Field(ge=0.0, le=1.0)
    # complex channel uses per image; on an OFDM link they include the pilots' and the cyclic prefix's share
    channel_uses_per_image: float = Field(ge=0.0)
    pilot_overhead: float | None = Field(default=None, ge=0.0, lt=1.0)  # OFDM links: the pilots' share of the elements
    dataset: str | None = None  # set where one results file covers several datasets
    seed: int | None = None  # few-shot / training seed, for methods that learn
    n_images: int | None = None  # set where a method ran on a subset of the test set
    n: int | None = None  # trials behind ``value``: images scored (retrieval: queries)
    ci95: tuple[float, float] | None = None  # 95 % Wilson interval of ``value`` (filled from ``n``)
    outcomes: str | None = None  # per-image right/wrong (``semclip.stats.pack_outcomes``), for paired comparisons
    detail: str | None = None  # e.g. the MCS a digital baseline chose at this SNR
    # how a digital baseline chose its MCS (and bit width): "bler" from block error rates on
    # random payloads (label-free), "oracle" by accuracy on the test labels
    link_adaptation: Literal["bler", "oracle"] | None = None
    k: int | None = None  # complex symbols per token sent by a token code (semclip, pca)
    leak: str | None = None  # set on every record of a run that broke zero-shot (--allow-leak), saying how

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: object) -> object:
        """A version-1 record (no ``view``) kept its view in ``split``: move it."""
        if isinstance(data, dict) and "view" not in data and data.get("split", "all") not in SPLITS:
            data = {**data, "view": data["split"], "split": "all"}
        return data

    @property
    def on_grid(self) -> bool:
        """A record of the main channel x SNR grid over all classes (not a protocol half, not another view)."""
        return self.view == "all" and self.split == "all"

    @model_validator(mode="after")
    def _interval(self) -> "Record":
        """Every proportion measured on ``n`` trials carries its interval."""
        if self.ci95 is None and self.n and (self.metric == "top1" or self.metric.startswith("r@")):
            lo, hi = wilson(self.value, self.n)
            self.ci95 = (round(lo, 5), round(hi, 5))
        return self


def package_versions(packages: Sequence[str], missing: str = "not installed") -> dict[str, str]:
    """Each installed package's version, ``missing`` for one that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = missing
    return out


def software_versions() -> dict[str, str]:
    """What made a results file: Python, the platform and the packages that shape numbers."""
    import platform

    return {"python": platform.python_version(), "platform": platform.platform(),
            **package_versions(("semclip", "torch", "transformers", "sionna-no-rt", "numpy", "pillow", "numba", "openvino"))}


def machine_facts() -> dict[str, object]:
    """What a timing was measured on (benchmarks write it beside their figures)."""
    import os
    import platform

    import torch

    return {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.machine(), "torch": torch.__version__,
            **cpu_model()}


def cpu_model() -> dict[str, object]:
    """The CPU's name and whether it has AVX-512 (timings differ up to 1.6x between our machines), where Linux says."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return {}
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), None)
    return {"cpu": name, "avx512": " avx512f" in info}


def uses_span(records: list[Record]) -> str:
    """'16', or '262–1572' where a method adapts its channel uses over the grid."""
    uses = sorted({r.channel_uses_per_image for r in records})
    return f"{uses[0]:g}" if len(uses) == 1 else f"{uses[0]:g}–{uses[-1]:g}"


def condition_label(channel: str, csi: str | None) -> str:
    """"awgn", "rayleigh (mmse)", ...: one label per distinct channel condition."""
    return f"{channel} ({csi})" if csi else channel


def channel_label(r: Record) -> str:
    """A record's channel condition (``condition_label``)."""
    return condition_label(r.channel, r.csi)


class Results(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION  # files without it are version 1 (``read`` migrates them)
    backbone: str
    dataset: str
    records: list[Record] = []

    def write(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> "Results":
        try:
            data = json.loads(Path(path).read_text())
            version = data.get("schema_version", 1) if isinstance(data, dict) else 1
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise SemclipError(f"{path} has results schema version {version}; this semclip reads up to {SCHEMA_VERSION}: upgrade semclip")
            # older versions are read into this one (their records migrated by Record._legacy)
            return cls.model_validate({**data, "schema_version": SCHEMA_VERSION} if isinstance(data, dict) else data)
        except FileNotFoundError as exc:
            raise SemclipError(f"no results file at {path}") from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise SemclipError(f"{path} is not a semclip results file: {str(exc).splitlines()[0]}") from exc
