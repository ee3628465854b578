"""Fuzzed inputs: every parser a user feeds either accepts the input or raises our one-line
SemclipError, never another exception (which the CLI would print as a traceback).
Hypothesis draws at least 200 examples per parser."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from semclip.errors import SemclipError

MANY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
numberish = st.one_of(junk, st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**6, 10**6).map(str),
                      st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", ",", "-10,,5", "5 dB", "0x10", "１０"]))


def works_or_says_why(fn, *args, **kwargs):
    """Run ``fn``; only our own error may come out."""
    try:
        return fn(*args, **kwargs)
    except SemclipError as exc:
        assert str(exc).strip(), "an error must say something"
        return None


@MANY
@given(st.lists(numberish, max_size=8).map(",".join))
def test_snr_lists(text):
    from semclip.channels.base import as_snr_tensor
    from semclip.app.options import parse_list

    snrs = works_or_says_why(parse_list, text, float, "--snrs")
    if snrs:
        works_or_says_why(as_snr_tensor, torch.tensor(snrs), len(snrs))


@MANY
@given(st.one_of(junk, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9)))
def test_single_snrs(value):
    from semclip.channels.base import as_snr_tensor

    works_or_says_why(as_snr_tensor, value if not isinstance(value, str) else _float_or(value), 3)


def _float_or(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


@MANY
@given(st.one_of(junk, st.builds("{}:{}".format, st.sampled_from(["awgn", "rayleigh", "rician", ""]), junk),
                 st.sampled_from(["awgn", "rayleigh", "rayleigh:zf", "rayleigh:none", "rayleigh:decoder", "RAYLEIGH", "awgn:"])))
def test_channel_specs(spec):
    from semclip.channels.registry import create_channel

    works_or_says_why(create_channel, spec)


@MANY
@given(st.one_of(junk, st.builds("{}:{}".format, st.sampled_from(["qpsk", "16qam", "64qam", "256qam", "1024qam", "bpsk", ""]),
                                 st.one_of(junk, st.sampled_from(["1/3", "1/2", "2/3", "0", "1", "3/2", "1/0", "0.5", "-1/2"])))))
def test_mcs_specs(spec):
    from semclip.baselines.digital import MCS

    works_or_says_why(MCS.parse, spec)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    from PIL import Image

    base = tmp_path_factory.mktemp("fuzz-data")
    (base / "empty").mkdir()
    (base / "one" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(base / "one" / "cat" / "a.png")
    return [str(base / "empty"), str(base / "missing"), str(base / "one")]


# dataset families the fuzzer may name (not `corpus`: building it reads 6 000 drawings; not `hf:`: it may reach the hub)
FAMILIES = ["fashion-mnist", "clipart", "imagenet", "caltech101", "oxford_pets", "dtd", "eurosat", "cifar10", "cifar100",
            "sun397", "fgvc_aircraft", "nosuchset", "folder", ""]


@MANY
@given(data=st.data())
def test_dataset_specs(roots, monkeypatch, tmp_path_factory, data):
    from semclip.data.registry import create_dataset

    monkeypatch.setenv("SEMCLIP_DATA", roots[1])  # no benchmark data here: every name must say how to get it
    family = data.draw(st.sampled_from(FAMILIES))
    if family == "folder":
        arg = data.draw(st.sampled_from(roots)) + data.draw(st.sampled_from(["", "/", "/cat", "/x"]))
    else:
        arg = data.draw(st.one_of(st.sampled_from(["train", "test", "val", ""]), junk))
        if data.draw(st.booleans()):
            arg += "@" + data.draw(st.sampled_from(roots))
    spec = f"{family}:{arg}" if data.draw(st.booleans()) or family == "folder" else family
    if data.draw(st.booleans()):
        spec += "#" + data.draw(st.one_of(st.integers(-3, 50).map(str), junk))
    if data.draw(st.booleans()):
        spec += "+" + data.draw(st.sampled_from(["fashion-mnist:test#3", "nosuchset", "", f"folder:{roots[2]}"]))
    works_or_says_why(create_dataset, spec)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), junk),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(junk, inner, max_size=3)), max_leaves=6)
KEYS = ["k", "ks", "snrs", "channels", "backbone", "dataset", "steps", "seed", "device", "precision", "out", "test_limit",
        "learners", "world_size", "allow_leak"]


@MANY
@given(data=st.data())
def test_config_files(tmp_path_factory, data):
    import yaml

    from semclip.app.config import COMMANDS, resolve

    import semclip.app.cli  # noqa: F401  (registers the commands)

    command = data.draw(st.sampled_from(sorted(COMMANDS) + ["dmeo"]))
    section = data.draw(st.dictionaries(st.one_of(st.sampled_from(KEYS), junk), yaml_values, max_size=4))
    body = data.draw(st.one_of(
        st.just({command: section}), st.just(section), st.lists(yaml_values, max_size=3),
        st.dictionaries(st.sampled_from(sorted(COMMANDS)), yaml_values, max_size=2)))
    folder = tmp_path_factory.mktemp("cfg")
    kind = data.draw(st.sampled_from(["yaml", "toml", "broken", "json"]))
    if kind == "yaml":
        path = folder / "x.yaml"
        path.write_text(yaml.safe_dump(body))
    elif kind == "toml":
        path = folder / "x.toml"
        path.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in (body.items() if isinstance(body, dict) else [])))
    elif kind == "broken":
        path = folder / "x.yaml"
        path.write_text(data.draw(junk) + ":\n  - [")
    else:
        path = folder / "x.json"
        path.write_text(json.dumps(body))
    target = command if command in COMMANDS else "demo"
    works_or_says_why(resolve, target, path, {}, set())


def _checkpoints():
    """Bytes that claim to be checkpoints: random, truncated real ones, the right kind with wrong tensors."""
    from semclip.jscc.checkpoint import KIND as JSCC_KIND

    good_meta = {"kind": JSCC_KIND, "config": json.dumps({"dim": 8, "ks": [4], "linear_base": False}), "backbone": "b"}
    tensor_sets = st.dictionaries(st.sampled_from(["encoder.net.linear.weight", "x", "decoder.net.out.1.bias", "base.mean"]),
                                  st.sampled_from([torch.zeros(2), torch.zeros(8, 8), torch.zeros(3, dtype=torch.int64)]),
                                  min_size=1, max_size=3)
    metas = st.one_of(st.just(good_meta), st.dictionaries(st.sampled_from(["kind", "config", "backbone", "x"]),
                                                          st.one_of(junk, st.just(JSCC_KIND), st.just("{}"), st.just("[1]")), max_size=4))
    return st.one_of(st.binary(max_size=200).map(lambda b: ("raw", b, None)),
                     st.tuples(st.just("safetensors"), tensor_sets, metas),
                     st.tuples(st.just("truncated"), tensor_sets, metas, st.integers(1, 200)))


@MANY
@given(_checkpoints())
def test_checkpoint_files(tmp_path_factory, made):
    from semclip.backbones.pocketclip import load_heads
    from semclip.baselines.image_jscc import load_image_jscc
    from semclip.jscc.checkpoint import load_jscc
    from semclip.prompts.checkpoint import read_meta as read_prompts

    path = tmp_path_factory.mktemp("ckpt") / "c.safetensors"
    if made[0] == "raw":
        path.write_bytes(made[1])
    else:
        save_file({k: v.clone() for k, v in made[1].items()}, str(path), metadata=made[2])
        if made[0] == "truncated":
            path.write_bytes(path.read_bytes()[: -made[3]])
    for load in (lambda p: load_jscc(p, device=torch.device("cpu")), load_image_jscc, read_prompts, load_heads):
        works_or_says_why(load, path)


@MANY
@given(snr=numberish, channel=st.one_of(junk, st.sampled_from(["awgn", "rayleigh"])), k=st.one_of(junk, st.sampled_from(["16", "4", "-1"])))
def test_the_cli_checks_arguments_before_loading_anything(snr, channel, k):
    """Any argument mix: exit code 2 (ours or click's usage error), no traceback, and no model
    loaded (the image does not exist, and the cheap checks come first)."""
    from typer.testing import CliRunner

    from semclip.app.cli import app

    result = CliRunner().invoke(app, ["transmit", "/nonexistent/x.png", "--snr", snr, "--channel", channel, "--k", k])
    assert result.exit_code != 0
    assert isinstance(result.exception, (SemclipError, SystemExit)), repr(result.exception)
