"""Where images come from: one grammar of data sources, one folder reader, phantom sources, datalists.

Used by training (:mod:`monai_despeckle.engines`), evaluation, segmentation and folder jobs
(:mod:`monai_despeckle.pipeline`); it builds on :mod:`monai_despeckle.io` and
:mod:`monai_despeckle.simulation` and imports nothing above them.

- :mod:`~monai_despeckle.data.sources`: ``phantoms:breast|carotid|mixed``, a simulated data set
  (``datalist.json``), a folder of images (``split.json``), several joined by ``+``;
- :mod:`~monai_despeckle.data.folders`: which files of a folder are images; a data folder's
  ``images/``, ``masks/`` and split;
- :mod:`~monai_despeckle.data.frames`: image and mask files as 2-D frames, resizing;
- :mod:`~monai_despeckle.data.phantoms`: the phantoms a source draws;
- :mod:`~monai_despeckle.data.lists`: train / validation datalists of any source.

The names are imported on first use (:mod:`monai_despeckle.lazy_exports`): the pipeline needs
only the folder reader, not scikit-image (frames) or the simulator (phantoms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monai_despeckle.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from monai_despeckle.data.folders import (
        folder_images,
        image_files,
        mask_path,
        read_split,
        required_mask,
        stem,
    )
    from monai_despeckle.data.frames import read_frame, read_mask, resize_frame
    from monai_despeckle.data.lists import (
        DataLists,
        combine_datalists,
        datalists,
        folder_datalists,
        phantom_datalists,
        simulated_dataset_lists,
    )
    from monai_despeckle.data.phantoms import (
        MIXED,
        PHANTOM_KINDS,
        check_kind,
        draw_phantom,
        phantom_family,
        simulator,
    )
    from monai_despeckle.data.sources import (
        SOURCE_SEPARATOR,
        DatasetSource,
        FolderSource,
        PhantomSource,
        Source,
        parse_source,
        parse_sources,
    )

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "folders": (
        "folder_images",
        "image_files",
        "mask_path",
        "read_split",
        "required_mask",
        "stem",
    ),
    "frames": (
        "read_frame",
        "read_mask",
        "resize_frame",
    ),
    "lists": (
        "DataLists",
        "combine_datalists",
        "datalists",
        "folder_datalists",
        "phantom_datalists",
        "simulated_dataset_lists",
    ),
    "phantoms": (
        "MIXED",
        "PHANTOM_KINDS",
        "check_kind",
        "draw_phantom",
        "phantom_family",
        "simulator",
    ),
    "sources": (
        "SOURCE_SEPARATOR",
        "DatasetSource",
        "FolderSource",
        "PhantomSource",
        "Source",
        "parse_source",
        "parse_sources",
    ),
}

__all__ = [
    "MIXED",
    "PHANTOM_KINDS",
    "SOURCE_SEPARATOR",
    "DataLists",
    "DatasetSource",
    "FolderSource",
    "PhantomSource",
    "Source",
    "check_kind",
    "combine_datalists",
    "datalists",
    "draw_phantom",
    "folder_datalists",
    "folder_images",
    "image_files",
    "mask_path",
    "parse_source",
    "parse_sources",
    "phantom_datalists",
    "phantom_family",
    "read_frame",
    "read_mask",
    "read_split",
    "required_mask",
    "resize_frame",
    "simulated_dataset_lists",
    "simulator",
    "stem",
]

__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES, globals())
