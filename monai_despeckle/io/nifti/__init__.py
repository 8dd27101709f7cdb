"""NIfTI-1/2 (``.nii``, ``.nii.gz``): header checks (:mod:`.header`), the format's rules on time axes and
units (:mod:`.rules`), the one reader (:mod:`.reader`) and the one writer (:mod:`.writer`)."""
