# ruff: noqa: N999 -- Slicer names a scripted module's package "<Module>Lib", after the module
"""Qt-free logic of the UltrasoundDespeckle Slicer module.

Everything here works on a bare MRML scene (Slicer's own, or the one of the PyPI ``slicer-core``
package in the tests) and uses only ``vtk``, Slicer's MRML classes, numpy and ``monai_despeckle``:

- :mod:`.scene_geometry`: Slicer RAS/IJK geometry <-> monai_despeckle LPS/array-order geometry;
- :mod:`.volume_nodes`: scalar volume nodes <-> :class:`~monai_despeckle.io.image.UltrasoundImage`;
- :mod:`.sequences`: cine loops as sequences and sequence browsers;
- :mod:`.progress`: progress callbacks and cancellation;
- :mod:`.despeckle_logic`: despeckle a volume or a whole sequence in chunks;
- :mod:`.segmentation_nodes`: label arrays <-> segmentation nodes;
- :mod:`.comparison_table`: per-frame Dice and areas as a table node;
- :mod:`.segmentation_handoff`: segment input and output and compare;
- :mod:`.views`: side-by-side display.
"""

from UltrasoundDespeckleLib.comparison_table import (
    FrameMetrics,
    column_names,
    dice,
    metrics_table,
    table_column,
)
from UltrasoundDespeckleLib.despeckle_logic import (
    DespeckleResult,
    MethodChoice,
    create_despeckler,
    despeckle_frames,
    despeckle_node,
    despeckle_sequence,
    despeckle_volume_node,
    method_choices,
)
from UltrasoundDespeckleLib.progress import OperationCancelledError, ProgressCallback
from UltrasoundDespeckleLib.scene_geometry import LPS_TO_RAS, VolumeGeometry, matrix_from_vtk
from UltrasoundDespeckleLib.segmentation_handoff import (
    SEGMENTATION_BUNDLES,
    SegmentationComparison,
    Segmenter,
    compare_segmentations,
    compare_sequence_segmentations,
    compare_volume_segmentations,
    load_segmenter,
)
from UltrasoundDespeckleLib.segmentation_nodes import add_segmentation_node, fill_segmentation, segment_mask
from UltrasoundDespeckleLib.sequences import SequenceFrames, browser_for_proxy, nodes_of_class
from UltrasoundDespeckleLib.views import show_only_in_view, show_side_by_side
from UltrasoundDespeckleLib.volume_nodes import (
    add_volume_node,
    image_from_volume_node,
    update_volume_node,
    volume_array,
)

__all__ = [
    "LPS_TO_RAS",
    "SEGMENTATION_BUNDLES",
    "DespeckleResult",
    "FrameMetrics",
    "MethodChoice",
    "OperationCancelledError",
    "ProgressCallback",
    "SegmentationComparison",
    "Segmenter",
    "SequenceFrames",
    "VolumeGeometry",
    "add_segmentation_node",
    "add_volume_node",
    "browser_for_proxy",
    "column_names",
    "compare_segmentations",
    "compare_sequence_segmentations",
    "compare_volume_segmentations",
    "create_despeckler",
    "despeckle_frames",
    "despeckle_node",
    "despeckle_sequence",
    "despeckle_volume_node",
    "dice",
    "fill_segmentation",
    "image_from_volume_node",
    "load_segmenter",
    "matrix_from_vtk",
    "method_choices",
    "metrics_table",
    "nodes_of_class",
    "segment_mask",
    "show_only_in_view",
    "show_side_by_side",
    "table_column",
    "update_volume_node",
    "volume_array",
]
