"""Backbones: frozen image and text towers sharing one embedding space.

``create_backbone("pocketclip")`` (the offline default) or
``create_backbone("hf-clip:openai/clip-vit-base-patch32")`` (any Hugging Face CLIPModel).
"""

from semclip.backbones.base import Backbone, TokenizedText, register_backbone
from semclip.backbones.registry import create_backbone, list_backbones

__all__ = ["Backbone", "TokenizedText", "create_backbone", "list_backbones", "register_backbone"]
