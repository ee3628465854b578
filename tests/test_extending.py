"""The worked example of docs/extending.md is true: its three files (a channel, a prompt
learner, a baseline), run as modules from outside the package, register entries that
semclip's own entry points then make, train and run; the command line finds them through
$SEMCLIP_PLUGINS."""

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semclip.backbones.stream import encode_images
from semclip.baselines import BASELINES, BaselineConfig, Context, run_baselines
from semclip.baselines.quantize import TokenQuantizer
from semclip.channels import CHANNELS, create_channel, power_normalize
from semclip.errors import SemclipError
from semclip.prompts import PromptTrainConfig, create_learner, list_learners, train_prompts
from semclip.prompts.base import LEARNERS
from semclip.tasks.zeroshot import ZeroShotClassifier

DOC = Path(__file__).parents[1] / "docs" / "extending.md"


def example_files(folder: Path) -> dict[str, Path]:
    """The page's code blocks that are files (first line ``# name.py``), written to ``folder``."""
    out = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        first = block.splitlines()[0]
        if first.startswith("# ") and first.endswith(".py"):
            out[first[2:-3]] = folder / first[2:]
            out[first[2:-3]].write_text(block)
    return out


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """Each example run once as a module outside semclip; the registries are restored after."""
    for registry in (CHANNELS, LEARNERS, BASELINES):
        registry.names()  # the built-in entries first
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    files = example_files(tmp_path)
    assert set(files) == {"my_channels", "my_learners", "my_baselines"}
    return {name: runpy.run_path(str(path)) for name, path in files.items()}


def test_an_outside_channel_is_made_by_name(examples):
    x = power_normalize(torch.complex(torch.randn(400, 16), torch.randn(400, 16)))
    channel = create_channel("erasure:0.25", torch.Generator().manual_seed(0))
    y = channel(x, torch.full((400, 1), 60.0)).y
    assert abs((y.abs() < 1e-2).float().mean().item() - 0.25) < 0.02  # a quarter of the symbols lost, the rest intact
    assert channel.spec == "erasure" and channel.codec_recipe == (("awgn", "rayleigh"), False)
    with pytest.raises(SemclipError, match="erasure probability"):
        create_channel("erasure:2")
    with pytest.raises(SemclipError, match="did you mean 'erasure'"):
        create_channel("erasur")


def test_an_outside_learner_trains_through_the_shared_loop(examples, clip, jscc, tmp_path):
    assert "shifted" in list_learners()
    learner = create_learner("shifted", clip, k=4)
    tokens = torch.nn.functional.normalize(torch.randn(16, clip.dim), dim=-1)
    labels = torch.arange(16) % 2
    result = train_prompts(learner, jscc, tokens, labels, ["cat", "dog"], PromptTrainConfig(steps=3, batch_size=8), tmp_path / "p.safetensors")
    assert learner.shift.abs().sum() > 0 and len(result["log"]) >= 1 and (tmp_path / "p.safetensors").exists()


def _texture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.linspace(0, 255, 28)[None, :] * np.ones((28, 28)) * (seed % 2) + rng.normal(0, 15, (28, 28))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def test_an_outside_baseline_runs_beside_the_built_in_ones(examples, clip, tmp_path):
    images = [_texture(i) for i in range(6)]
    with torch.no_grad():
        tokens = encode_images(clip, lambda i: images[i], range(6))
    ctx = Context(clip, ZeroShotClassifier(clip, ["dark thing", "bright thing"]), images, torch.arange(6) % 2, tokens,
                  lambda b: TokenQuantizer(torch.randn(50, clip.dim), b), None, "t", 0)
    cfg = BaselineConfig(methods=["uncoded"])
    records = run_baselines(ctx, cfg, ["awgn", "rayleigh"], [0.0, 20.0], cache=tmp_path / "cache")
    assert [(r.method, r.channel, r.snr_db, r.channel_uses_per_image) for r in records] == [
        ("uncoded", ch, snr, 8.0) for ch in ("awgn", "rayleigh") for snr in (0.0, 20.0)]
    assert len(list((tmp_path / "cache").glob("uncoded-*.json"))) == 2  # cached per channel, as the built-in ones
    assert run_baselines(ctx, cfg, ["awgn", "rayleigh"], [0.0, 20.0], cache=tmp_path / "cache") == records  # read back


def test_the_command_line_finds_plugins(tmp_path):
    example_files(tmp_path)
    env = {**os.environ, "SEMCLIP_PLUGINS": "my_channels,my_baselines", "PYTHONPATH": str(tmp_path)}
    cli = [sys.executable, "-m", "semclip.app.cli"]
    out = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "erasure[:<p>]" in out.stdout and "uncoded" in out.stdout, out.stderr
    bad = subprocess.run([*cli, "list"], env={**env, "SEMCLIP_PLUGINS": "no_such_plugin"}, capture_output=True, text=True)
    assert bad.returncode == 2 and "no_such_plugin" in bad.stderr


def test_a_plugin_never_changes_the_defaults(examples):
    assert "uncoded" in BASELINES.names() and "uncoded" not in BaselineConfig().methods
