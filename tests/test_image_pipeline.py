"""The image pipeline's decoding processes (``--workers``) change nothing but speed: the
same tokens, bit for bit, and the same unreadable images named, as the prefetch thread's.
Checked on the embedded PocketCLIP (the main job's tower) and through the baselines'
receiver, whose pictures are in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semclip.backbones.registry import create_backbone
from semclip.backbones.stream import encode_stream
from semclip.baselines.receiver import ImageReceiver, Listed
from semclip.data.registry import create_dataset
from semclip.errors import SemclipError


@pytest.fixture(scope="module")
def pocket():
    return create_backbone("pocketclip", device="cpu")


def pictures(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (20 + i, 31, 3), dtype=np.uint8)) for i in range(n)]


def test_worker_processes_give_the_threads_tokens_and_name_the_same_bad_image(pocket, tmp_path):
    root = tmp_path / "imgs"
    for i, im in enumerate(pictures(13)):
        (root / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        im.save(root / ("a" if i % 2 else "b") / f"{i:02d}.png")
    (root / "a" / "05.png").write_bytes(b"not a png")  # a corrupt file in the middle of a batch
    data = create_dataset(f"folder:{root}")
    got = {w: encode_stream(pocket, data.image, range(len(data)), batch_size=4, workers=w) for w in (0, 1, 2)}
    tokens, ok, errors = got[0]
    assert ok.sum() == 12 and len(errors) == 1 and "05.png" in next(iter(errors.values()))
    for w in (1, 2):
        assert torch.equal(got[w][0], tokens) and torch.equal(got[w][1], ok) and got[w][2] == errors


def test_the_receivers_pictures_in_memory_reach_worker_processes(pocket):
    ims = pictures(9, seed=1)
    keys = list(range(9))
    thread = ImageReceiver(pocket, batch_size=4, workers=0).tokens(ims, keys)
    procs = ImageReceiver(pocket, batch_size=4, workers=2).tokens(ims, keys)
    assert torch.equal(thread, procs) and thread.shape == (9, pocket.dim)


def test_workers_outside_what_the_machine_allows_are_refused():
    from semclip.device import check_workers, cores, image_workers

    assert check_workers(None) is None and check_workers(0) == 0 and check_workers(cores()) == cores()
    for bad in (-1, cores() + 1):
        with pytest.raises(SemclipError, match=f"--workers {bad} is outside 0..{cores()}"):
            check_workers(bad)
    assert image_workers(torch.device("cpu")) == 0  # the CPU default: the thread, fastest on our 2 cores


def test_the_gpu_default_is_this_processs_share_of_the_cores(monkeypatch):
    from semclip import device

    monkeypatch.setattr(device, "cores", lambda: 16)
    monkeypatch.setattr(device, "_workers", None)
    assert device.image_workers(torch.device("cuda")) == 15
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # four processes launched on the node
    assert device.image_workers(torch.device("cuda")) == 3
    monkeypatch.setattr(device, "cores", lambda: 64)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert device.image_workers(torch.device("cuda")) == device.MAX_AUTO_WORKERS
    monkeypatch.setattr(device, "_workers", 3)  # what --workers chose wins
    assert device.image_workers(torch.device("cuda")) == 3


def test_extraction_over_several_shards_is_the_same_with_processes(pocket, tmp_path):
    """One stream over every shard (the processes start once), each shard written when its
    last batch is in: the cache file equals the thread's, bit for bit."""
    from safetensors.torch import load_file

    from semclip.tokens.cache import extract_tokens

    root = tmp_path / "many"
    for i, im in enumerate(pictures(300, seed=2)):  # 3 shards of 128 (the last short)
        (root / "x").mkdir(parents=True, exist_ok=True)
        im.save(root / "x" / f"{i:03d}.png")
    (root / "x" / "130.png").write_bytes(b"broken")  # in the second shard
    data = create_dataset(f"folder:{root}")
    files = {w: load_file(str(extract_tokens(pocket, data, tmp_path / f"cache{w}", batch_size=50, workers=w))) for w in (0, 2)}
    assert torch.equal(files[0]["tokens"], files[2]["tokens"]) and torch.equal(files[0]["ok"], files[2]["ok"])
    assert files[0]["tokens"].shape[0] == 300 and int(files[0]["ok"].sum()) == 299


def test_the_sigchld_handler_is_put_back_after_worker_processes(pocket):
    """torch leaves its SIGCHLD handler behind a multi-process loader; with OpenVINO loaded
    the next subprocess to exit then crashed the whole process (segmentation fault)."""
    import signal

    before = signal.getsignal(signal.SIGCHLD)
    encode_stream(pocket, Listed(pictures(8)), range(8), batch_size=4, workers=2)
    assert signal.getsignal(signal.SIGCHLD) == before


def test_a_loader_that_cannot_reach_a_process_decodes_in_the_thread(pocket):
    ims = pictures(8)
    with pytest.warns(UserWarning, match="not picklable"):
        got, _, _ = encode_stream(pocket, lambda i: ims[i], range(8), batch_size=4, workers=2)
    assert torch.equal(got, encode_stream(pocket, Listed(ims), range(8), batch_size=4, workers=0)[0])
