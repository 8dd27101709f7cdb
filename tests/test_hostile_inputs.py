"""A corpus of malformed and hostile files through every subcommand that takes files.

Each file (see :mod:`hostile_files`: lying headers, decompression bombs, truncations, wrong
types...) must end every subcommand the same way: exit status 2, exactly one ``error:`` line that
names the file and says what is wrong, no traceback, nothing written, and the input unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hostile_files import HOSTILE
from PIL import Image

from monai_despeckle import cli
from monai_despeckle.data.folders import stem

NOT_IN_A_DATA_FOLDER = {"missing", "unknown_suffix"}  # a data folder lists image files only


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _as_data_folder(path: Path, root: Path) -> Path:
    """``root/images/<file>`` with a matching, valid ``root/masks/<stem>_mask.png``."""
    images = root / "images"
    images.mkdir(parents=True)
    moved = path.rename(images / path.name)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(root / "masks" / f"{stem(moved)}_mask.png")
    return moved


def _info(path: Path, out: Path) -> list[str]:
    return ["info", str(path)]


def _denoise(path: Path, out: Path) -> list[str]:
    return ["denoise", str(path), str(out / "result.nii.gz"), "--method", "mean", "--no-progress"]


def _segment(path: Path, out: Path) -> list[str]:
    return ["segment", str(path), str(out / "result_seg.nii.gz")]


def _evaluate(path: Path, out: Path) -> list[str]:
    data = path.parent.parent
    return ["evaluate", "--data", str(data), "--methods", "mean", "--size", "32", "--out", str(out)]


def _segment_eval(path: Path, out: Path) -> list[str]:
    data = path.parent.parent
    options = ["--despecklers", "none", "--split", "all", "--ways", "test_time", "--out", str(out)]
    return ["segment-eval", "--task", "breast", "--data", str(data), *options]


SUBCOMMANDS: dict[str, tuple[Callable[[Path, Path], list[str]], bool]] = {
    # name -> (argv builder, whether the file goes into a data folder)
    "info": (_info, False),
    "denoise": (_denoise, False),
    "segment": (_segment, False),
    "evaluate": (_evaluate, True),
    "segment-eval": (_segment_eval, True),
}

CASES = [
    (name, command)
    for name in HOSTILE
    for command, (_, in_folder) in SUBCOMMANDS.items()
    if not (in_folder and name in NOT_IN_A_DATA_FOLDER)
]


def test_the_corpus_covers_every_kind_of_hostile_input():
    assert len(HOSTILE) >= 40
    kinds = {name.split("_")[0] for name in HOSTILE}
    assert {"nifti", "dicom", "png", "tiff", "jpeg", "bmp", "nrrd", "mha"} <= kinds


def check_refused(capfd, argv: list[str], path: Path, phrase: str, tmp_path: Path, before: dict) -> None:
    """Status 2, one error line naming ``path`` with ``phrase``, no traceback, nothing written."""
    status = cli.main(argv)
    captured = capfd.readouterr()
    # progress bars (segment and segment-eval always draw one) are not messages
    lines = [line for line in captured.err.splitlines() if line.strip() and "%|" not in line]
    assert status == cli.EXIT_USER_ERROR, captured.err
    assert "Traceback" not in captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert path.name in lines[0] and phrase in lines[0], lines[0]
    after = {entry: _digest(entry) for entry in tmp_path.rglob("*")}
    assert after == before  # no output, no staging leftovers, input unchanged


@pytest.mark.parametrize(("name", "command"), CASES, ids=[f"{name}-{command}" for name, command in CASES])
def test_a_hostile_file_is_one_clear_error_and_nothing_written(tmp_path, capfd, name, command):
    make, phrase = HOSTILE[name]
    build, in_folder = SUBCOMMANDS[command]
    made = tmp_path / "made"
    made.mkdir()
    path = make(made)
    if in_folder:
        path = _as_data_folder(path, tmp_path / "data")
    before = {entry: _digest(entry) for entry in tmp_path.rglob("*")}
    check_refused(capfd, build(path, tmp_path / "out"), path, phrase, tmp_path, before)
