"""Images through a backbone's image tower, a batch at a time: decoding and resizing in a
background thread, or in DataLoader worker processes (the run's ``--workers``,
``semclip.device.image_workers``), while the tower runs; unreadable images reported by
index instead of stopping the run. What the token cache (``semclip.tokens.cache``) and
every other encoder of images (PocketCLIP's head training, the baselines' receiver) stream
through, so one setting feeds the tower everywhere. The tokens do not depend on it: each
image is preprocessed by the same function in whichever process, and the batches keep their
order."""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
import warnings
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from semclip.backbones.base import Backbone, Preprocess
from semclip.backbones.engine import image_encoder
from semclip.device import autocast, image_workers
from semclip.errors import SemclipError


class _Pixels(Dataset):
    """Image index -> (pixels [3, S, S], readable?, error); a bad file gives zeros and its
    error. Picklable when ``load`` is (worker processes get a copy): it holds the backbone's
    ``Preprocess``, not the model."""

    def __init__(self, load: Callable[[int], object], preprocess: Preprocess) -> None:
        self.load, self.preprocess = load, preprocess

    def __getitem__(self, i: int) -> tuple[torch.Tensor, bool, str]:
        try:
            return self.preprocess(self.load(i)), True, ""
        except SemclipError as exc:
            size = self.preprocess.image_size
            return torch.zeros(3, size, size, device="cpu"), False, str(exc)


def batches_of(indices: range | list[int], batch_size: int) -> list[list[int]]:
    idx = list(indices)
    return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


@torch.no_grad()
def stream_batches(
    backbone: Backbone,
    load: Callable[[int], object],
    batches: list[list[int]],
    workers: int | None = None,
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, dict[int, str]]]:
    """Encode ``batches`` of image indices in order, one DataLoader for all of them (its
    worker processes start once) -> per batch (indices, tokens [b, d] float32, readable [b]
    bool, {i: error}); unreadable images get a zero row. ``fn`` replaces the image tower (by
    default the run's engine: OpenVINO on the CPU, else ``backbone.encode_pixels``);
    ``workers`` decoding processes (None: the run's setting; 0: a prefetch thread)."""
    fn = fn or image_encoder(backbone)
    device = backbone.device
    workers = image_workers(device) if workers is None else workers
    workers = min(workers, len(batches))  # a process per batch at most: starting one costs more than it decodes
    if workers and not picklable(load):  # the same tokens from the thread, only slower
        warnings.warn(f"the image loader {load!r} cannot be handed to worker processes (not picklable): decoding in a thread",
                      stacklevel=2)
        workers = 0
    loader = DataLoader(_Pixels(load, backbone.preprocessor), batch_sampler=batches,
                        num_workers=workers, pin_memory=device.type == "cuda", **worker_context(workers))

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        with autocast(device, backbone.precision == "bf16"):
            return fn(pixels.to(device, non_blocking=True)).float().cpu()

    with kept_sigchld(workers > 0):
        for idx, (pixels, good, msgs) in zip(batches, prefetched(loader) if workers == 0 else loader):
            if good.all():
                tokens = encode(pixels)
            else:  # zero rows for the unreadable ones
                enc = encode(pixels[good]) if good.any() else torch.empty(0, backbone.dim, device="cpu")
                tokens = torch.zeros(pixels.shape[0], enc.shape[1], device="cpu")
                tokens[good] = enc
            yield idx, tokens, good, {idx[j]: msgs[j] for j in torch.nonzero(~good).flatten().tolist()}


def picklable(obj: object) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - any failure means: not for a worker process
        return False
    return True


@contextlib.contextmanager
def kept_sigchld(active: bool):
    """Put back the process's SIGCHLD handler after a loader with worker processes: torch
    leaves its own installed for good, and with OpenVINO loaded in the process the next
    child to exit (any subprocess) then crashed it with a segmentation fault."""
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGCHLD")
    before = signal.getsignal(signal.SIGCHLD) if active and main else None
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGCHLD, before)


def encode_stream(
    backbone: Backbone,
    load: Callable[[int], object],
    indices: range | list[int],
    batch_size: int = 64,
    workers: int | None = None,
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[int, str]]:
    """Encode images ``load(i)`` -> (tokens [n, d] float32, readable [n] bool, {i: error}),
    ``stream_batches`` gathered."""
    out, ok, errors = [], [], {}
    for idx, tokens, good, bad in stream_batches(backbone, load, batches_of(indices, batch_size), workers, fn):
        out.append(tokens)
        ok.append(good)
        errors |= bad
        if on_batch:
            on_batch(len(idx))
    if not out:
        return torch.empty(0, backbone.dim, device="cpu"), torch.empty(0, dtype=torch.bool, device="cpu"), {}
    return torch.cat(out), torch.cat(ok), errors


def worker_context(workers: int) -> dict:
    """DataLoader arguments for ``workers`` processes, started by a fork server: forking the
    run's own process, which holds the tower's and the decoders' thread pools, is unsafe
    (Python deprecates forking a threaded process; 3.14 makes the server its default), while
    the server is a fresh process that imported what decoding needs, once, and forks cheaply.
    Each worker gets a pickled copy of the dataset's loader (images in memory, as the
    baselines' receiver's, travel with it); a script that encodes with workers needs the
    usual ``if __name__ == "__main__":`` guard, as with any start method but fork."""
    if workers == 0:
        return {}
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows: spawn, the only method
        return {"prefetch_factor": 2}
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "PIL.Image", "semclip.backbones.stream", "semclip.data.registry"])
    return {"prefetch_factor": 2, "multiprocessing_context": ctx}


def prefetched(batches, depth: int = 2):
    """Yield ``batches`` while a background thread prepares the next ones: decoding and
    resizing images (Pillow releases the GIL) overlaps the tower (OpenVINO and torch release
    it too), without forking a process that holds their thread pools. An error in the
    thread is raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for b in batches:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def encode_images(backbone: Backbone, load: Callable[[int], object], indices: range | list[int], batch_size: int = 64, fn=None,
                  workers: int | None = None) -> torch.Tensor:
    """Tokens [n, d] of images that must all be readable (an unreadable one is an error)."""
    tokens, ok, errors = encode_stream(backbone, load, indices, batch_size, workers, fn=fn)
    if errors:
        raise SemclipError(next(iter(errors.values())))
    return tokens
