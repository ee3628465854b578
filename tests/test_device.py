"""One device policy: bad device specs fail in one line, and no tensor or Sionna block of a
run is made on an implicit device.

CI has no GPU, so a tensor created without ``device=`` would pass on the CPU and break on a
GPU. Two guards make such code fail here: a torch function mode that flags every factory
call (zeros, arange, randint, ...) made *from semclip's code* without an explicit device,
and Sionna's default device set to a foreign value ("meta"), so a block built without the
run's device cannot compute with our CPU tensors."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from semclip import device as devices
from semclip.errors import SemclipError

FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.arange, torch.rand, torch.randn, torch.randint,
             torch.tensor, torch.linspace, torch.eye, torch.randperm}


class ImplicitDevice(TorchFunctionMode):
    """Records factory calls from semclip modules that leave the device to torch's default.
    Module constructors (``__init__``) are exempt: modules are built as torch.nn builds them
    and moved whole with ``.to(device)``."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            caller = sys._getframe(1)
            if caller.f_globals.get("__name__", "").startswith("semclip") and caller.f_code.co_name != "__init__":
                self.found.append(f"torch.{func.__name__} at {caller.f_code.co_filename}:{caller.f_lineno}")
        return func(*args, **kwargs)


@pytest.fixture
def foreign_sionna(monkeypatch):
    """Sionna's default device set to one no semclip tensor is on."""
    from sionna.phy import config

    monkeypatch.setattr(config, "_device", "meta")
    from semclip.baselines import digital

    digital._blocks.cache_clear()
    yield
    digital._blocks.cache_clear()


def test_device_specs():
    assert devices.resolve("cpu") == torch.device("cpu")
    assert devices.resolve("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(SemclipError, match="unknown device 'tpu'"):
        devices.resolve("tpu")
    with pytest.raises(SemclipError, match="unknown device"):
        devices.resolve("cuda:x")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_cuda_without_a_gpu_is_one_clear_line():
    with pytest.raises(SemclipError, match="no CUDA GPU.*use --device cpu or auto"):
        devices.resolve("cuda")


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(SemclipError, match="there is no GPU 5; this machine has 2 \\(cuda:0..cuda:1\\)"):
        devices.resolve("cuda:5")


def test_bf16_where_the_device_has_none_is_one_clear_line():
    """On the CPU the towers run in fp32 whatever is asked (bf16 autocast is for GPUs), so
    asking for bf16 there is an error, not a silent fp32 run cached as bf16."""
    with pytest.raises(SemclipError, match="--precision bf16 needs a GPU with bf16 \\(this run is on cpu"):
        devices.select("cpu", precision="bf16")


def test_generators_live_on_the_device():
    g = devices.generator(3, torch.device("cpu"))
    assert g.device.type == "cpu" and g.initial_seed() == 3


def test_the_pipeline_names_its_device_everywhere(tiny_clip_dir, foreign_sionna, tmp_path):
    """Codec training, prompt training, a sweep, retrieval, the digital link and one
    transmission, all on the CPU with both guards on: nothing made on an implicit device."""
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
    from semclip.eval.retrieval import sweep_retrieval
    from semclip.eval.sweep import sweep, sweep_semclip
    from semclip.jscc.checkpoint import save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc
    from semclip.prompts.base import PromptConfig
    from semclip.prompts.registry import create_learner
    from semclip.prompts.train import PromptTrainConfig, train_prompts
    from semclip.tasks.retrieval import CaptionIndex
    from semclip.tasks.zeroshot import ZeroShotClassifier
    from semclip.app.transmit import Sender
    from PIL import Image

    cpu = torch.device("cpu")
    devices.select("cpu")
    bb = create_backbone(f"hf-clip:{tiny_clip_dir}", device=cpu)
    torch.manual_seed(0)
    tokens = torch.nn.functional.normalize(torch.randn(40, bb.dim), dim=-1)
    labels = torch.arange(40) % 4
    classes = ["cat", "dog", "car", "tree"]
    codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[4, 8], k=4))
    learner = create_learner("tapl", bb, PromptConfig(), k=4)
    guard = ImplicitDevice()
    with guard:
        train_jscc(codec, tokens, None, JSCCTrainConfig(steps=3, batch_size=8))
        train_prompts(learner, codec, tokens, labels, classes, PromptTrainConfig(steps=2, batch_size=8, save_every=1),
                      tmp_path / "p.safetensors")
        clf = ZeroShotClassifier(bb, classes)
        sweep_semclip(codec, tokens, labels, clf, ["awgn", "rayleigh"], [0.0])
        sweep(codec, tokens, labels, lambda t, s: learner.predict(t, s, classes), ["awgn"], [5.0])
        sweep_retrieval(codec, tokens[:8], CaptionIndex(bb, [f"a {c}" for c in classes] * 2), ["rayleigh"], [5.0], "tiny")
        link = DigitalLink(BlockPlan.for_payload(96, MCS.parse("qpsk:1/2")), num_iter=4)
        bits = torch.randint(0, 2, (3, link.plan.payload_bits), device=cpu)
        got, ok = link.transmit(bits, coherent_channel("rayleigh", devices.generator(0, cpu)), 20.0)
        assert got.shape == bits.shape and ok.shape == (3, link.plan.blocks)
        path = save_jscc(codec, tmp_path / "c.safetensors", bb.fingerprint)
        sender = Sender(f"hf-clip:{tiny_clip_dir}", path, log=lambda *a: None, k=4)
        sent = sender.send(Image.new("RGB", (40, 30), "red"), 5.0, "awgn", classes)
        assert len(sent.received) == 4
    assert not guard.found, "tensors made on an implicit device:\n" + "\n".join(dict.fromkeys(guard.found))


def test_the_guards_catch_an_implicit_device(foreign_sionna):
    """The two guards above fail on code that forgets the device (so their silence means something)."""
    guard = ImplicitDevice()
    with guard:
        exec(compile("torch.zeros(3)", "<semclip-code>", "exec"), {"torch": torch, "__name__": "semclip.fake"})
    assert guard.found and "torch.zeros" in guard.found[0]
    from sionna.phy.mapping import Mapper

    # a block built without the run's device computes on Sionna's default (here meta), away from our tensors
    assert Mapper("qam", 2)(torch.zeros(2, 4, device="cpu")).device.type == "meta"


def test_a_checkpoint_holds_no_device(tmp_path):
    """safetensors files carry no device: a codec saved from any device loads on the CPU."""
    from semclip.jscc.checkpoint import load_jscc, save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC

    codec = TokenJSCC(JSCCConfig(dim=8, ks=[4], linear_base=False))
    path = save_jscc(codec, tmp_path / "c.safetensors", "any")
    loaded = load_jscc(path, device=torch.device("cpu"))
    assert next(loaded.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_the_command_line_says_so_in_one_line():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "semclip.app.cli", "extract", "--device", "cuda:1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "no CUDA GPU" in r.stderr
