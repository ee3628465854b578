"""One device policy for a whole run: chosen once, then every module, tensor, random
generator and Sionna block of the run lives on it.

``select(spec)`` validates ``auto | cpu | cuda | cuda:N`` and makes it the run's device;
``current()`` returns it (``auto`` until something selects: the GPU when there is one).
Under ``accelerate launch`` each process takes the GPU its launcher gave it
(``semclip.distributed``). Random draws are reproducible per device: ``generator(seed)``
is a seeded generator *on* the run's device, so noise is drawn where it is used, with no
host-to-device copy per batch. A CPU run and a GPU run of the same seed draw different
(equally distributed) noise; data order (which rows a batch reads) is drawn on the host,
where the token store lives, so it is the same on every device.
"""

from __future__ import annotations

import os

import torch

from semclip.errors import SemclipError

DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda or cuda:N"
PRECISIONS = ("fp32", "bf16")
ENGINES = ("auto", "openvino", "eager")  # what runs the image tower on the CPU (``semclip.backbones.engine``)
ENGINE_HELP = "auto (OpenVINO on the CPU when installed, else eager PyTorch), openvino or eager"
WORKERS_HELP = ("processes that decode and preprocess images beside the image tower, in every command that encodes "
                "images: 0 decodes in one prefetch thread; default: 0 on the CPU (the fastest on our 2 cores), "
                "on a GPU this process's share of the cores less one, at most 16")
MAX_AUTO_WORKERS = 16  # enough to feed one GPU with PocketCLIP or a ViT-B/32; more only queue
_chosen: torch.device | None = None
_precision = "fp32"
_engine = "auto"
_workers: int | None = None  # None: chosen from the device and the cores (``image_workers``)


def resolve(spec: str | torch.device | None = "auto") -> torch.device:
    """A device spec -> torch.device, or a one-line error that says what to do."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    family, _, index = spec.partition(":")
    if family != "cuda" or (index and not (index.isascii() and index.isdigit())):
        raise SemclipError(f"unknown device {spec!r}; use {DEVICE_HELP}")
    if not torch.cuda.is_available():
        raise SemclipError(f"--device {spec}: this machine has no CUDA GPU that torch can use (torch {torch.__version__}); use --device cpu or auto")
    n = torch.cuda.device_count()
    # a bare "cuda" under a launcher is this process's own GPU, as Accelerate assigns it
    i = int(index) if index else int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
    if i >= n:
        raise SemclipError(f"--device {spec}: there is no GPU {i}; this machine has {n} (cuda:0..cuda:{n - 1})")
    return torch.device("cuda", i)


def select(spec: str | torch.device | None = "auto", precision: str = "fp32", engine: str = "auto",
           workers: int | None = None) -> torch.device:
    """Make ``spec`` the run's device (the commands call this once, from ``--device``),
    ``precision`` that of the frozen image tower (``bf16``: autocast on a GPU, opt-in; its
    tokens are cached apart from fp32's), ``engine`` what runs that tower on the CPU
    (``semclip.backbones.engine``) and ``workers`` how many processes decode images for it
    (None: ``image_workers``'s default)."""
    global _chosen, _precision, _engine, _workers
    if precision not in PRECISIONS:
        raise SemclipError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    chosen = resolve(spec)
    if precision == "bf16" and not (chosen.type == "cuda" and torch.cuda.is_bf16_supported()):
        raise SemclipError(f"--precision bf16 needs a GPU with bf16 (this run is on {chosen}, where the towers run in fp32); "
                           "use --precision fp32")
    _chosen, _precision, _engine, _workers = chosen, precision, check_engine(engine), check_workers(workers)
    if _chosen.type == "cuda":
        torch.cuda.set_device(_chosen)
    return _chosen


def current() -> torch.device:
    """The run's device: what ``select`` chose, else ``auto``."""
    return _chosen if _chosen is not None else resolve("auto")


def precision() -> str:
    """The frozen image tower's precision for this run (``fp32`` unless selected)."""
    return _precision


def check_engine(name: str) -> str:
    """Validate an engine name (the ``--engine`` option)."""
    if name not in ENGINES:
        raise SemclipError(f"unknown engine {name!r}; use {ENGINE_HELP}")
    return name


def engine() -> str:
    """What runs the frozen image tower on the CPU: ``auto`` (OpenVINO when installed),
    ``openvino`` or ``eager``."""
    return _engine


def cores() -> int:
    """CPU cores this process may run on (its affinity, which ``taskset`` and schedulers set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_workers(n: int | None) -> int | None:
    """Validate a number of decoding processes (the ``--workers`` option; None: the default)."""
    if n is not None and not 0 <= n <= cores():  # more decoding processes than cores only queue for them
        raise SemclipError(f"--workers {n} is outside 0..{cores()} (this process may use {cores()} CPU cores; "
                           "0 decodes in a thread; leave it out for the default)")
    return n


def image_workers(device: torch.device | None = None) -> int:
    """Decoding processes for the image tower on ``device`` (default: the run's): what
    ``select`` was given, else 0 on the CPU, where the processes would compete with the tower
    for the same cores (a thread is fastest on our 2 cores: ``benchmarks/extract_workers.py``),
    and on a GPU this process's share of the cores (``accelerate launch`` starts
    LOCAL_WORLD_SIZE processes per node) less the one that drives the GPU, at most 16."""
    if _workers is not None:
        return _workers
    if (device or current()).type == "cpu":
        return 0
    share = cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(MAX_AUTO_WORKERS, share - 1))


def generator(seed: int, device: torch.device | None = None) -> torch.Generator:
    """A generator seeded with ``seed`` on ``device`` (default: the run's device)."""
    return torch.Generator(device=device or current()).manual_seed(int(seed))


def keyed_generator(seed: int, key: str, device: torch.device | None = None, digits: int = 8) -> torch.Generator:
    """A stream of its own per (seed, key): the seed offset by ``digits`` hex digits of the
    key's SHA-1, so that streams for different purposes (a channel's noise, link probes,
    common fades) never overlap and do not depend on what ran before."""
    import hashlib

    return generator(seed * 1_000_003 + int(hashlib.sha1(key.encode()).hexdigest()[:digits], 16), device)


def host_generator(seed: int) -> torch.Generator:
    """A seeded CPU generator, for draws that index host memory (which rows a batch reads)."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast for the frozen towers on a GPU; a no-op on the CPU (where bf16 is
    slower than fp32 on most cores) or when disabled."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def of(module: torch.nn.Module) -> torch.device:
    """Where ``module`` lives (its first parameter or buffer; the CPU if it has neither):
    library functions follow the model they are given, so they need no device argument."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")
