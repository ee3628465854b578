"""Stage 2, at the receiver: prompt learners (hand-crafted, CoOp, CoCoOp, TAPL), their
training on few-shot tokens received through the frozen JSCC, and their checkpoints."""

from semclip.prompts.base import PromptConfig, PromptLearner
from semclip.prompts.checkpoint import load_prompts, save_prompts
from semclip.prompts.registry import create_learner, list_learners
from semclip.prompts.splits import base_novel, few_shot
from semclip.prompts.train import PromptTrainConfig, train_prompts

__all__ = [
    "PromptConfig",
    "PromptLearner",
    "PromptTrainConfig",
    "base_novel",
    "create_learner",
    "few_shot",
    "list_learners",
    "load_prompts",
    "save_prompts",
    "train_prompts",
]
