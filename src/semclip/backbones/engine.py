"""The frozen image tower through a kept inference engine (OpenVINO) on the CPU.

Why: the image tower is the largest compute of a cold run, and eager PyTorch reaches about a
seventh of two cores' FMA peak on PocketCLIP's EfficientNet. Measured on our 2-core machine
(``benchmarks/encode_speed.py``, same 64-image batch, fp32): eager PyTorch 85-97 images/s,
ONNX Runtime 229, OpenVINO (latency hint, fp32) 484. OpenVINO wins, so it is the one engine we
keep; its precision is pinned to f32 (on CPUs with bf16 units it would otherwise pick bf16,
whose tokens drift to cosine 0.998 of eager's).

The tower is converted from the backbone's own weights at first use (``ov.convert_model``,
a few seconds), saved under the cache keyed by the backbone's fingerprint (weights digest and
preprocessing), and checked against eager PyTorch on a fixed batch every time it is loaded:
cosine >= ``MATCH_COSINE`` for every row, else it is converted again; if it still differs,
eager PyTorch is used and one line says so. Eager PyTorch is also the path on GPUs, under a
reduced precision, and whenever OpenVINO is missing (one line says so).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import warnings
from contextlib import contextmanager
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from semclip._io import atomic_write, cache_dir
from semclip.backbones.base import Backbone
from semclip.device import check_engine, engine as run_engine
from semclip.errors import SemclipError
from semclip.progress import say

MATCH_COSINE = 0.9999
CHECK_ROWS = 8

Encoder = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ImageEncoder:
    """The image tower a run uses: ``engine`` ('openvino' or 'eager') names what computes it
    (tokens are cached apart by it: the two agree to cosine 0.9999, not bit for bit)."""

    engine: str
    fn: Encoder

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [B, 3, S, S] float32 -> tokens [B, dim], L2-normalised."""
        return self.fn(pixels)


def image_encoder(backbone: Backbone, engine: str | None = None) -> ImageEncoder:
    """The backbone's image tower through OpenVINO when ``engine`` (default: the run's,
    ``semclip.device.engine()``) allows it (see the module's docstring), else eager PyTorch."""
    engine = check_engine(engine or run_engine())
    eager = ImageEncoder("eager", backbone.encode_pixels)
    cpu_fp32 = backbone.device.type == "cpu" and backbone.precision == "fp32"
    if engine == "openvino" and not cpu_fp32:
        raise SemclipError(f"--engine openvino runs the fp32 image tower on the CPU, not on {backbone.device} "
                           f"at {backbone.precision}; use --engine auto or eager")
    if engine == "eager" or not cpu_fp32:
        return eager
    if _openvino() is None:
        if engine == "openvino":
            raise SemclipError("--engine openvino: OpenVINO is not installed; run `pip install openvino` or use --engine eager")
        _say_once("OpenVINO is not installed: the image tower runs in eager PyTorch (`pip install openvino`: about 4x faster)")
        return eager
    fingerprint = backbone.fingerprint
    memo = backbone.__dict__.get("_openvino_tower")
    if memo is None or memo[0] != fingerprint:
        fn = _load_checked(backbone, fingerprint)
        memo = (fingerprint, ImageEncoder("openvino", fn) if fn is not None else eager)
        backbone.__dict__["_openvino_tower"] = memo
    return memo[1]


def model_path(backbone: Backbone, fingerprint: str | None = None) -> Path:
    """Where the converted tower of this exact backbone lives (an OpenVINO IR .xml + .bin)."""
    name = (fingerprint or backbone.fingerprint).replace("/", "_").replace(":", "_").replace("@", "-")
    return cache_dir() / "engines" / f"{name}-s{backbone.image_size}.xml"


class _Tower(torch.nn.Module):
    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [B, 3, S, S] -> tokens [B, dim]."""
        return self.backbone.encode_pixels(pixels)


def _convert(backbone: Backbone, path: Path) -> None:
    """Trace the tower (dynamic batch) and save it; the .xml is renamed last, so its presence
    means the pair is complete."""
    ov = _openvino()
    s = backbone.image_size
    example = torch.zeros(2, 3, s, s, device="cpu")
    with torch.no_grad(), warnings.catch_warnings(), _quiet_transformers():  # tracer chatter, not the user's business
        warnings.simplefilter("ignore")
        model = ov.convert_model(_Tower(backbone).eval(), example_input=example, input=[(-1, 3, s, s)])
    with tempfile.TemporaryDirectory() as tmp:  # OpenVINO writes the pair itself; copy each in atomically
        ov.save_model(model, f"{tmp}/m.xml", compress_to_fp16=False)
        atomic_write(path.with_suffix(".bin"), lambda p: shutil.copyfile(f"{tmp}/m.bin", p))
        atomic_write(path, lambda p: shutil.copyfile(f"{tmp}/m.xml", p))


@contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def compile_options() -> dict[str, object]:
    """How the tower is compiled: the latency hint (one request, every thread of the run),
    precision pinned to f32."""
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": torch.get_num_threads()}


def _compile(path: Path) -> Encoder:
    ov = _openvino()
    compiled = ov.Core().compile_model(str(path), "CPU", compile_options())

    lock = threading.Lock()  # one infer request: calls from several threads (the web demo) take turns

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        with lock:
            return torch.from_numpy(compiled(pixels.detach().cpu().contiguous().numpy())[0].copy())

    return encode


def check_batch(backbone: Backbone) -> torch.Tensor:
    """The fixed batch both paths must agree on: seeded, image-like (normalised noise)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    return torch.randn(CHECK_ROWS, 3, backbone.image_size, backbone.image_size, generator=g, device="cpu")


def agreement(backbone: Backbone, encoder: Encoder) -> float:
    """Smallest row cosine between ``encoder`` and eager PyTorch on the fixed batch."""
    x = check_batch(backbone)
    with torch.no_grad():
        ref = backbone.encode_pixels(x).float()
    return float(F.cosine_similarity(encoder(x).float(), ref, dim=-1).min())


def _load_checked(backbone: Backbone, fingerprint: str) -> Encoder | None:
    """The converted tower once it matches eager PyTorch (converted again once if not, or if
    it fails to convert, load or run); None if it never does."""
    path = model_path(backbone, fingerprint)
    why = ""
    for attempt in range(2):
        try:
            if attempt or not path.exists():
                _convert(backbone, path)
            encoder = _compile(path)
            cos = agreement(backbone, encoder)
        except Exception as exc:  # a torn or foreign file, or a tower OpenVINO cannot take: try once more
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            continue
        if cos >= MATCH_COSINE:
            return encoder
        why = f"cosine {cos:.6f} < {MATCH_COSINE} against eager PyTorch"
    _say_once(f"the OpenVINO image tower could not be used ({why}): the image tower runs in eager PyTorch")
    return None


_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        say(f"[yellow]note:[/] {message}")


def _openvino():
    """The openvino module, or None when it is missing or fails to import (a broken install)."""
    try:
        import openvino
    except Exception:  # noqa: BLE001 - any import failure means: no engine, eager PyTorch
        return None
    return openvino
