"""Zero-shot tasks at the receiver: the received token is compared with text embeddings
the receiver chooses, with no retraining."""

from semclip.tasks.templates import TEMPLATES, validate_classnames
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

__all__ = ["TEMPLATES", "ZeroShotClassifier", "top1_accuracy", "validate_classnames"]
