"""Ultrasound phantoms with ground truth: breast lesions and carotid arteries.

Each phantom is an echogenicity map built from textured tissue layers and lesion / vessel shapes
(:mod:`~monai_despeckle.simulation.breast`, :mod:`~monai_despeckle.simulation.carotid`), imaged
with the physics-based speckle model of :mod:`monai_despeckle.speckle.physics` into a speckled
B-mode and its speckle-free reference, with aligned masks (:class:`PhantomSample`).
:func:`write_dataset` writes a MONAI-ready data set of them.
"""

from monai_despeckle.simulation.breast import LESION_TYPES, breast_anatomy, simulate_breast
from monai_despeckle.simulation.carotid import VIEWS, carotid_anatomy, simulate_carotid
from monai_despeckle.simulation.dataset import write_dataset
from monai_despeckle.simulation.families import LABEL_NAMES, PHANTOMS, label_map, sample_seed
from monai_despeckle.simulation.grid import PixelGrid
from monai_despeckle.simulation.sample import Anatomy, PhantomSample

__all__ = [
    "LABEL_NAMES",
    "LESION_TYPES",
    "PHANTOMS",
    "VIEWS",
    "Anatomy",
    "PhantomSample",
    "PixelGrid",
    "breast_anatomy",
    "carotid_anatomy",
    "label_map",
    "sample_seed",
    "simulate_breast",
    "simulate_carotid",
    "write_dataset",
]
