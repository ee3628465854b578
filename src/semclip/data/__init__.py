"""Data: labelled image sets found offline.

Every dataset is a ``LabelledImages``: a sequence of PIL images, integer labels and
class names. Their tokens are cached per backbone + dataset + preprocessing by
``semclip.tokens``, the layer above.
"""

from semclip.data.base import LabelledImages, load_image
from semclip.data.fashion_mnist import FashionMNIST
from semclip.data.image_folder import ImageFolder
from semclip.data.registry import create_dataset, list_datasets

__all__ = ["FashionMNIST", "ImageFolder", "LabelledImages", "create_dataset", "list_datasets", "load_image"]
