"""Data: labelled image sets found offline, and the on-disk token cache.

Every dataset is a ``LabelledImages``: a sequence of PIL images, integer labels and
class names. Tokens are cached per backbone + dataset + preprocessing (``token_cache``).
"""

from semclip.data.base import LabelledImages, load_image
from semclip.data.fashion_mnist import FashionMNIST
from semclip.data.image_folder import ImageFolder
from semclip.data.registry import create_dataset, list_datasets

__all__ = ["FashionMNIST", "ImageFolder", "LabelledImages", "create_dataset", "list_datasets", "load_image"]
