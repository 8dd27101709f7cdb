# ruff: noqa: N999 -- Slicer names a scripted module's package "<Module>Lib", after the module
"""Qt-free logic of the UltrasoundDespeckle Slicer module.

Everything here works on a bare MRML scene (Slicer's own, or the one of the PyPI ``slicer-core``
package in the tests) and uses only ``vtk``, Slicer's MRML classes, numpy, scipy and
``monai_despeckle``, one job per module:

- :mod:`.environment`: is this Slicer recent enough, is the installed torch the right one (no
  monai_despeckle needed: it runs before the dependencies are installed);
- :mod:`.scene_geometry`: Slicer RAS/IJK geometry <-> monai_despeckle LPS/array-order geometry;
- :mod:`.volume_nodes`: scalar volume nodes <-> :class:`~monai_despeckle.io.image.UltrasoundImage`;
- :mod:`.display`: window/level of a result, carried over from its input;
- :mod:`.sequences`: cine loops as sequences and sequence browsers;
- :mod:`.progress`: progress callbacks and cancellation;
- :mod:`.region_mask`: which pixels are ultrasound image (burnt-in text, calipers, colour bar are not);
- :mod:`.dicom_source`: the DICOM header a node was loaded from;
- :mod:`.result_nodes`: where a result goes (reused for the same input and method, under the input's
  subject-hierarchy parent);
- :mod:`.strength`: blend of input and full-strength result, re-applied without re-running;
- :mod:`.despeckle_logic`: despeckle a volume or a whole sequence in chunks;
- :mod:`.segmentation_nodes`: label arrays <-> segmentation nodes;
- :mod:`.area_units`: mm² when the pixel size is calibrated, px² otherwise;
- :mod:`.comparison_table`: per-frame Dice and areas as a table node;
- :mod:`.segmentation_handoff`: segment input and output and compare;
- :mod:`.views`: side-by-side and overlay display in the same orientation;
- :mod:`.view_state`: remember and restore the layout the user had;
- :mod:`.dicom_export`: write a result as a derived DICOM series;
- :mod:`.sample_data`: a short phantom cine with burnt-in annotations.

Names are imported lazily from their module on first use, so that ``environment`` can be used
before monai_despeckle (and torch) are installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "area_units": ("AreaUnit", "area_unit"),
    "comparison_table": ("FrameMetrics", "column_names", "dice", "metrics_table", "table_column"),
    "despeckle_logic": (
        "DespeckleResult",
        "MethodChoice",
        "create_despeckler",
        "despeckle_frames",
        "despeckle_node",
        "despeckle_sequence",
        "despeckle_volume_node",
        "method_choices",
    ),
    "dicom_export": ("export_dicom",),
    "dicom_source": ("DicomSource", "dicom_source"),
    "display": ("copy_window_level",),
    "environment": ("MINIMUM_SLICER", "TorchCheck", "check_torch", "slicer_version_problem"),
    "progress": ("OperationCancelledError", "ProgressCallback"),
    "region_mask": ("RegionMask", "ultrasound_mask"),
    "result_nodes": ("find_result", "place_beside"),
    "sample_data": ("add_phantom_cine", "phantom_cine"),
    "scene_geometry": ("LPS_TO_RAS", "VolumeGeometry", "matrix_from_vtk"),
    "segmentation_handoff": (
        "SEGMENTATION_BUNDLES",
        "SegmentationComparison",
        "Segmenter",
        "compare_segmentations",
        "compare_sequence_segmentations",
        "compare_volume_segmentations",
        "load_segmenter",
    ),
    "segmentation_nodes": ("add_segmentation_node", "fill_segmentation", "segment_mask"),
    "sequences": ("SequenceFrames", "browser_for_proxy", "nodes_of_class"),
    "strength": ("apply_strength", "blend", "current_strength"),
    "view_state": ("restore_views", "save_views"),
    "views": ("align_views", "show_overlaid", "show_only_in_view", "show_side_by_side", "toggle_overlay"),
    "volume_nodes": ("add_volume_node", "image_from_volume_node", "update_volume_node", "volume_array"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module the first time it is asked for."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
