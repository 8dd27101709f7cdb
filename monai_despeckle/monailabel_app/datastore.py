"""The studies folder as a MONAI Label datastore that holds only images monai-despeckle can read.

MONAI Label's :class:`~monailabel.datastore.local.LocalDatastore` copies whatever a client
uploads. This one reads every upload with :func:`monai_despeckle.io.load` first, so an
unreadable image or label is refused with its reason (HTTP 400) instead of failing later at
inference or training, and a label must have its image's frames and size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monailabel.datastore.local import LocalDatastore

from monai_despeckle import io
from monai_despeckle.errors import InvalidImageError, InvalidParameterError
from monai_despeckle.monailabel_app.errors import NotFoundError
from monai_despeckle.monailabel_app.inputs import read_request_file

__all__ = ["FILE_PATTERNS", "CheckedDatastore"]

# Single-file formats of monai_despeckle.io (the two-file .mhd / .nhdr cannot be uploaded whole).
FILE_PATTERNS = (
    "*.nii.gz",
    "*.nii",
    "*.nrrd",
    "*.mha",
    "*.dcm",
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.tif",
    "*.tiff",
    "*.bmp",
)


class CheckedDatastore(LocalDatastore):
    """A local datastore over ``studies`` that checks images and labels before adding them."""

    def __init__(self, studies: str, **kwargs: Any) -> None:
        kwargs.setdefault("extensions", FILE_PATTERNS)
        super().__init__(studies, **kwargs)

    def image_path_of(self, image_id: str) -> str:
        """The file of image ``image_id``, or :class:`NotFoundError`."""
        path = self.get_image_uri(image_id) if isinstance(image_id, str) else ""
        if not path:
            raise NotFoundError(f"no image {image_id!r} in the datastore")
        return path

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        """Add an uploaded image once it reads as an image, under a plain file name."""
        if image_id and (Path(image_id).name != image_id or image_id in (".", "..")):
            raise InvalidParameterError(f"image id {image_id!r} must be a plain name, not a path")
        read_request_file(image_filename, "uploaded image")
        return super().add_image(image_id, image_filename, image_info)

    def save_label(
        self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]
    ) -> str:
        """Save a label map of an existing image once it reads and matches the image's frames."""
        image = io.load(self.image_path_of(image_id))
        label = read_request_file(label_filename, "uploaded label")
        if label.frames.shape != image.frames.shape:
            raise InvalidImageError(
                f"the label of {image_id!r} has frames {label.frames.shape} but the image has "
                f"{image.frames.shape} ([frames, height, width])"
            )
        return super().save_label(image_id, label_filename, label_tag, label_info)
