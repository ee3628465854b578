"""`semclip demo`'s options are generated from the config classes (semclip.app.options):
every flag the command had before still exists, the defaults are the config's own, values
parse into the config's types, and the renamed --mcs-oracle is a deprecated alias."""

import inspect

import pytest

from semclip.app.cli import DEMO_OPTIONS, demo
from semclip.app.demo import DemoConfig
from semclip.app.options import build
from semclip.errors import SemclipError

FLAGS_BEFORE = """out backbone dataset transfer_dataset train_dataset reference_dataset adapt_dataset adapt_steps shots_dataset
shots_limit k ks k_sweep_snr snrs channels test_limit train_limit steps learners shots prompt_steps baselines jpeg_sides
views view_limit baseline_limit budget image_jscc_steps target_bler mcs_oracle retrieval_dataset allow_leak seed shipped
quick device precision engine""".split()


def _defaults() -> dict:
    return {o.name: p.default for o in DEMO_OPTIONS for name, p in inspect.signature(demo).parameters.items() if name == o.name} | {
        "mcs_oracle": False}


def test_every_earlier_flag_still_exists():
    assert set(FLAGS_BEFORE) <= set(inspect.signature(demo).parameters)


def test_the_command_line_defaults_are_the_configs():
    assert build(DemoConfig, DEMO_OPTIONS, _defaults()) == DemoConfig()


def test_values_reach_their_fields_and_seed_is_shared():
    values = _defaults() | {"snrs": "-3,7", "ks": "4,16", "k": 4, "seed": 5, "steps": 12, "prompt_steps": 7, "adapt_steps": 9,
                            "transfer_dataset": "", "jpeg_sides": "28", "image_jscc_steps": 11, "views": False}
    cfg = build(DemoConfig, DEMO_OPTIONS, values)
    assert cfg.grid.snrs_db == [-3.0, 7.0] and cfg.grid.ks == [4, 16] and cfg.grid.k == 4
    assert (cfg.grid.seed, cfg.codecs.jscc.seed, cfg.codecs.adapt.seed, cfg.prompts.train.seed) == (5, 5, 5, 5)
    assert (cfg.codecs.jscc.steps, cfg.prompts.train.steps, cfg.codecs.adapt.steps, cfg.baselines.image_jscc_train.steps) == (12, 7, 9, 11)
    assert cfg.data.transfer_dataset is None and cfg.baselines.jpeg_sides == [28] and cfg.views.enabled is False
    with pytest.raises(SemclipError, match="--snrs: 'x' is not a number"):
        build(DemoConfig, DEMO_OPTIONS, _defaults() | {"snrs": "0,x"})


def test_a_renamed_flag_is_a_deprecated_alias(capsys):
    cfg = build(DemoConfig, DEMO_OPTIONS, _defaults() | {"mcs_oracle": True})
    assert cfg.baselines.link_adaptation == "oracle"
    assert "--mcs-oracle is deprecated: use --link-adaptation oracle" in capsys.readouterr().err
    assert build(DemoConfig, DEMO_OPTIONS, _defaults() | {"link_adaptation": "oracle"}).baselines.link_adaptation == "oracle"


def test_config_show_leaves_out_an_unused_old_alias(tmp_path):
    from semclip.app.config import show

    assert "link_adaptation: bler" in show(None, ["demo"]) and "mcs_oracle" not in show(None, ["demo"])
    old = tmp_path / "old.yaml"
    old.write_text("demo:\n  mcs_oracle: true\n")
    assert "mcs_oracle: true" in show(old, [])  # a file that uses it reads back the same
