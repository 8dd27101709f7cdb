"""MONAI Label app over the same Despeckler and Segmenter: ``monai-despeckle label --studies DIR``.

- :mod:`~monai_despeckle.monailabel_app.launcher`: starts the MONAI Label server on the app;
- :mod:`~monai_despeckle.monailabel_app.app`: the app (tasks, datastore, request checks);
- :mod:`~monai_despeckle.monailabel_app.infer`: ``segment_breast``, ``segment_carotid``, ``despeckle``;
- :mod:`~monai_despeckle.monailabel_app.training`: fine-tuning on the datastore's final labels;
- :mod:`~monai_despeckle.monailabel_app.strategies`: which image to annotate next;
- :mod:`~monai_despeckle.monailabel_app.models`: the model versions of each task;
- :mod:`~monai_despeckle.monailabel_app.results`: result files in the input's geometry;
- :mod:`~monai_despeckle.monailabel_app.datastore`, :mod:`~monai_despeckle.monailabel_app.inputs`:
  the studies folder and the files requests name;
- :mod:`~monai_despeckle.monailabel_app.errors`: HTTP statuses of bad requests;
- :mod:`~monai_despeckle.monailabel_app.compat`: MONAI Label 0.8.5 next to pydicom 3.

Importing this package registers the pydicom-3 compatible ``pydicom_seg`` (see
:mod:`~monai_despeckle.monailabel_app.compat`), so that MONAI Label can be imported after it in
any process, the training subprocess MONAI Label starts included.
"""

from monai_despeckle.monailabel_app.compat import install_pydicom_seg

install_pydicom_seg()
