"""Starting weights for a skip-DAE with the bilinear decoder, from a trained transposed-conv one.

Usage: ``python tools/bilinear_decoder_init.py BUNDLE OUT.pt``

Every layer but the decoder's upsampling is copied. Each 2×2 stride-2 transposed convolution
(one kernel per output phase) becomes the 1×1 convolution that is the mean of its four phase
kernels, followed by bilinear ×2 upsampling: the phases' mean response, without the phase
differences that make the checkerboard. The result is a start for fine-tuning with
``train.init_weights`` (see the skip-DAE bundle's README, "Decoder upsampling"), not a model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from monai_despeckle.networks.dae_skip import DenoisingAutoencoder
from monai_despeckle.resolver import find_bundle, load_network


def bilinear_start(trained: DenoisingAutoencoder) -> DenoisingAutoencoder:
    """A bilinear-decoder copy of ``trained`` (see the module docstring)."""
    if trained.upsample != "transpose":
        raise ValueError("the network already upsamples bilinearly")
    features = [encoder[0].out_channels for encoder in trained.encoders]
    start = DenoisingAutoencoder(features, skip=trained.skip, upsample="bilinear")
    state = {key: value for key, value in trained.state_dict().items() if not key.startswith("decoders.")}
    for index, block in enumerate(trained.decoders):
        transposed = block.up[0]  # weight [in, out, 2, 2]
        state[f"decoders.{index}.up.0.weight"] = transposed.weight.mean(dim=(2, 3)).t()[:, :, None, None]
        state[f"decoders.{index}.up.0.bias"] = transposed.bias
        for key, value in block.fuse.state_dict().items():
            state[f"decoders.{index}.fuse.{key}"] = value
    start.load_state_dict({key: value.detach().clone().contiguous() for key, value in state.items()})
    return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a despeckling bundle of the skip-DAE (name or folder)")
    parser.add_argument("out", type=Path, help="the state_dict file to write")
    args = parser.parse_args()
    bundle = find_bundle(args.bundle)
    trained = load_network(bundle)  # sha256-verified weights
    if not isinstance(trained, DenoisingAutoencoder):
        raise SystemExit(f"{bundle.path} holds a {type(trained).__name__}, not a skip-DAE")
    torch.save(bilinear_start(trained).state_dict(), args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
