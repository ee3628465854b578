"""Evaluation: sweeps over channels and SNRs, the results schema, tables and plots."""

from semclip.results import Record, Results
from semclip.eval.sweep import sweep_semclip

__all__ = ["Record", "Results", "sweep_semclip"]
