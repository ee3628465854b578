"""Token DeepJSCC: one SNR- and bandwidth-conditioned codec maps a d-dim token straight to
k complex channel symbols (nested: every served k is a prefix) and back; the flat linear
code (principal directions + linear MMSE receiver) is its base, and the same code with the
LMMSE-optimal power allocation across components (``pca``) is the floor it must beat; a
trained codec adapts to its sender's unlabelled images (``adapt_codec``)."""

from semclip.jscc.adapt import AdaptConfig, adapt_codec
from semclip.jscc.checkpoint import load_jscc, read_provenance, save_jscc
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc

__all__ = ["AdaptConfig", "AllocatedLinearCode", "JSCCConfig", "JSCCTrainConfig", "LinearCode", "TokenJSCC", "adapt_codec", "load_jscc", "read_provenance", "save_jscc", "train_jscc"]
