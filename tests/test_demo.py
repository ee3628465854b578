"""Which codec serves which channel, and config validation before any heavy work."""

import pytest

from semclip.app.demo import DemoConfig
from semclip.baselines.common import BaselineConfig
from semclip.job.config import GridConfig, ViewsConfig
from semclip.jscc.zoo import codec_recipe
from semclip.errors import SemclipError


def test_codec_recipes():
    assert codec_recipe("awgn") == codec_recipe("rayleigh") == codec_recipe("rayleigh:mmse") == (("awgn", "rayleigh"), False)
    assert codec_recipe("rayleigh:decoder") == (("rayleigh:decoder",), True)
    assert codec_recipe("rayleigh:none") == (("rayleigh:none",), False)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"grid": GridConfig(k=0)}, "serves k in"), ({"grid": GridConfig(ks=[4, 0])}, "positive integers"),
     ({"grid": GridConfig(snrs_db=[0.0, float("nan")])}, "finite"), ({"grid": GridConfig(channels=["awgn", "rician"])}, "unknown channel"),
     ({"views": ViewsConfig(budgets=[64, 8])}, "8 channel uses are too few for any payload"),
     ({"views": ViewsConfig(snrs_db=[float("inf")])}, "finite"), ({"views": ViewsConfig(limit=0)}, "view_limit must be at least 1"),
     ({"baselines": BaselineConfig(jpeg_sides=[28, 300])}, r"JPEG sides .* 4..255")],
)
def test_validate(kwargs, match):
    with pytest.raises(SemclipError, match=match):
        DemoConfig(**kwargs).validate()
