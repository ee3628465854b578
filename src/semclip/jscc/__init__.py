"""Token DeepJSCC: an SNR-conditioned encoder maps a d-dim token straight to k complex
channel symbols, a decoder maps the received symbols back to a token."""

from semclip.jscc.checkpoint import load_jscc, save_jscc
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc

__all__ = ["JSCCConfig", "JSCCTrainConfig", "TokenJSCC", "load_jscc", "save_jscc", "train_jscc"]
