"""Baselines that end at the same receiver as semclip: image over JPEG + 5G LDPC + QAM,
its capacity bound, image DeepJSCC, and the token over a digital link."""

from semclip.baselines.digital import DEFAULT_MCS, MCS, BlockPlan, DigitalLink, coherent_channel
from semclip.baselines.common import BASELINES, Baseline, BaselineConfig, Context, register_baseline
from semclip.baselines.run import run_baselines

__all__ = ["BASELINES", "DEFAULT_MCS", "Baseline", "register_baseline", "MCS", "BaselineConfig", "BlockPlan", "Context", "DigitalLink", "coherent_channel", "run_baselines"]
