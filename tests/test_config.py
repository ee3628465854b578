"""Experiment files: every flag is a field, unknown keys and sections are errors, the
command line wins over the file, and ``config show`` round-trips."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
import yaml

from semclip.app.cli import app
from semclip.app.config import COMMANDS, read_file, resolve, schema, show
from semclip.errors import SemclipError


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "semclip.app.cli", *args], capture_output=True, text=True, timeout=300, env=env)


def test_every_flag_is_a_field():
    group = typer.main.get_command(app)
    for name in COMMANDS:
        params = {p.name for p in group.commands[name].params} - {"config", "help"}
        assert params == set(schema(name).model_fields), name
    assert {"demo", "train", "eval", "extract", "transmit", "serve", "report"} <= set(COMMANDS)


def test_file_fills_defaults_and_the_command_line_wins(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text('[demo]\ntest-limit = 50\nsnrs = "-5,5"\nbackbone = "hf-clip:/models/clip"\n\n[train]\nsteps = 7\n')
    given = {"test_limit": None, "snrs": "0", "backbone": "pocketclip"}
    values = resolve("demo", f, given, from_cli={"snrs"})
    assert values["test_limit"] == 50 and values["backbone"] == "hf-clip:/models/clip"
    assert values["snrs"] == "0"  # given on the command line
    assert values["k"] == 16  # neither: the default
    assert resolve("train", f, {}, set())["steps"] == 7


@pytest.mark.parametrize(
    "text, message",
    [
        ("[demo]\ntets_limit = 5\n", "unknown key 'tets_limit'.*did you mean 'test_limit'"),
        ("[dmeo]\nk = 5\n", r"unknown section \[dmeo\].*did you mean 'demo'"),
        ("[demo]\nk = \"sixteen\"\n", "k: Input should be a valid integer"),
        ("[demo\nk = 5\n", "not valid TOML"),
        ("demo = 3\n", "must hold key = value"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SemclipError, match=message):
        show(f, [])


def test_a_broken_yaml_file_is_one_line_naming_where(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("demo:\n  k: 4\n   bad: x\n")
    with pytest.raises(SemclipError, match="not valid YAML: mapping values are not allowed here at line 3, column 7") as exc:
        show(f, [])
    assert "\n" not in str(exc.value)


def test_show_round_trips_through_yaml(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("eval:\n  dataset: clipart\n  seeds: '0'\n")
    text = show(f, [])
    assert list(yaml.safe_load(text)) == ["eval"]
    (tmp_path / "again.yaml").write_text(text)
    assert show(tmp_path / "again.yaml", []) == text
    assert yaml.safe_load(text)["eval"]["dataset"] == "clipart"
    from semclip.app.config import hidden

    assert hidden("demo") == {"mcs_oracle"}
    assert set(yaml.safe_load(show(None, ["demo"]))["demo"]) == set(schema("demo").model_fields) - hidden("demo")  # every setting
    assert read_file(f)["eval"]["seeds"] == "0"


def test_config_through_the_command_line(tmp_path, tiny_clip_dir, image_folder):
    f = tmp_path / "exp.yaml"
    f.write_text(f"extract:\n  dataset: folder:{image_folder}\n  backbone: hf-clip:{tiny_clip_dir}\n  batch-size: 5\n")
    out = cli("config", "show", str(f))
    assert out.returncode == 0 and "batch_size: 5" in out.stdout and "workers: null" in out.stdout
    env = {**__import__("os").environ, "SEMCLIP_CACHE": str(tmp_path / "cache")}
    run = cli("extract", "--config", str(f), "--limit", "7", env=env)
    assert run.returncode == 0, run.stderr
    assert "7 tokens of size 24" in run.stdout
    f.write_text("extract:\n  batchsize: 5\n")
    bad = cli("extract", "--config", str(f))
    assert bad.returncode == 2 and "did you mean 'batch_size'" in bad.stderr and "[extract]" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_shipped_experiment_files_are_valid():
    """The paper-style recipe in configs/ must stay in step with the flags."""
    root = __import__("pathlib").Path(__file__).parents[1] / "configs"
    files = sorted(root.glob("*.yaml")) + sorted(root.glob("*.toml"))
    assert files
    for f in files:
        shown = yaml.safe_load(show(f, []))
        assert set(shown) == set(read_file(f))
    recipe = yaml.safe_load(show(root / "paper_vitb16_imagenet.yaml", []))
    from semclip.data.benchmarks import CROSS_DATASET_TARGETS

    assert recipe["eval"]["targets"].split(",") == CROSS_DATASET_TARGETS


def test_lists_in_files_become_comma_separated_flags(tmp_path):
    f = tmp_path / "lists.yaml"
    f.write_text("demo:\n  snrs: [-10, 0, 10]\n  channels: [awgn, 'rayleigh:zf']\nreport:\n  runs: [a, b]\n")
    shown = yaml.safe_load(show(f, []))
    assert shown["demo"]["snrs"] == "-10,0,10" and shown["demo"]["channels"] == "awgn,rayleigh:zf"
    assert shown["report"]["runs"] == ["a", "b"]


def test_a_run_needs_its_section_and_checks_the_others(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text("[train]\nsteps = 7\n")
    with pytest.raises(SemclipError, match="has no demo section"):
        resolve("demo", f, {}, set())
    f.write_text("[demo]\nk = 4\n[train]\nstep = 7\n")
    with pytest.raises(SemclipError, match=r"\[train\].*unknown key 'step'"):
        resolve("demo", f, {}, set())
