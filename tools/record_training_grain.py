"""Record the speckle grain of a despeckling bundle's training inputs in its metadata.

Rebuilds the training inputs from the bundle's own ``configs/train.json`` (its ``dataset_dir``
unless ``--data`` is given), measures the grain of a seeded sample and writes
``speckle_grain`` into ``configs/metadata.json``, keeping the resampled axes already recorded.
``train`` and ``adapt`` do this themselves for the bundles they write; this is for bundles
trained before the grain was recorded. Run from the repository root (the shipped configs name
``../shared/data``):

    .venv/bin/python tools/record_training_grain.py bundles/despeckle_dae_skip bundles/despeckle_pix2pix
"""

from __future__ import annotations

import argparse
import json

from monai_despeckle.engines.grain import DEFAULT_SAMPLES, bundle_training_grain, record_training_grain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", help="bundle folders")
    parser.add_argument("--data", help="training data (default: each bundle's dataset_dir)")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="training inputs measured")
    args = parser.parse_args()
    for bundle in args.bundles:
        grain = bundle_training_grain(bundle, args.data, samples=args.samples)
        record_training_grain(bundle, grain)
        print(bundle, json.dumps(grain.as_metadata()))


if __name__ == "__main__":
    main()
