"""monai_despeckle.data: the source grammar, the folder reader and the phantoms a source draws.

The pinned values (file counts and name digests of the shared data sets' splits) were recorded
with the code before the data package existed (``evaluation.datasets.image_files``), so they
check that training, evaluation and segmentation still see the same files in the same order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_despeckle.data import (
    DatasetSource,
    FolderSource,
    PhantomSource,
    datalists,
    draw_phantom,
    folder_images,
    image_files,
    mask_path,
    parse_source,
    parse_sources,
    phantom_family,
    required_mask,
    stem,
)
from monai_despeckle.errors import (
    CorruptFileError,
    InputNotFoundError,
    InvalidImageError,
    InvalidParameterError,
)
from monai_despeckle.evaluation import load_eval_set, simulated_set
from monai_despeckle.options import PHANTOM_FAMILIES
from monai_despeckle.segmentation.data import phantom_entries, segmentation_folder
from monai_despeckle.segmentation.tasks import get_task
from monai_despeckle.simulation import PHANTOMS, label_map, sample_seed, write_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = 32


def write_png(path: Path, value: int = 100, shape: tuple[int, int] = (8, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


def _digest(paths: list[Path]) -> str:
    return hashlib.sha256("\n".join(p.name for p in paths).encode()).hexdigest()[:16]


# --- grammar --------------------------------------------------------------------------------------


def test_every_kind_of_source_parses_to_its_type(tmp_path):
    write_png(tmp_path / "real" / "images" / "a.png")
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "datalist.json").write_text("{}")
    assert parse_source("phantoms:mixed") == PhantomSource("mixed")
    assert parse_source("sim:carotid") == PhantomSource("carotid")  # the older spelling
    assert str(PhantomSource("carotid")) == "phantoms:carotid"
    assert parse_source(tmp_path / "sim") == DatasetSource(tmp_path / "sim")
    assert parse_source(str(tmp_path / "real")) == FolderSource(tmp_path / "real")
    joined = parse_sources(f"{tmp_path / 'real'} + phantoms:breast+{tmp_path / 'sim'}")
    assert joined == [
        FolderSource(tmp_path / "real"),
        PhantomSource("breast"),
        DatasetSource(tmp_path / "sim"),
    ]


def test_an_existing_folder_with_a_plus_in_its_name_is_one_source(tmp_path):
    folder = tmp_path / "busi+more"
    write_png(folder / "a.png")
    assert parse_sources(folder) == [FolderSource(folder)]


@pytest.mark.parametrize("text", ["phantoms:liver", "sim:", "phantoms:breast+phantoms:Breast"])
def test_an_unknown_phantom_kind_names_the_choices(text):
    with pytest.raises(InvalidParameterError, match=r"unknown phantom kind .*breast, carotid, mixed"):
        parse_sources(text)


def test_a_missing_folder_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputNotFoundError, match="data folder does not exist") as raised:
        parse_sources(f"phantoms:breast+{missing}")
    assert str(missing) in str(raised.value)
    with pytest.raises(InputNotFoundError):
        parse_source(write_png(tmp_path / "a_file.png"))  # a file is not a source


@pytest.mark.parametrize(
    "text", ["phantoms:breast+", "+phantoms:breast", "phantoms:breast++phantoms:carotid"]
)
def test_an_empty_part_of_a_join_is_refused(text):
    with pytest.raises(InvalidParameterError, match="empty source"):
        parse_sources(text)


def test_segmentation_and_evaluation_speak_the_same_grammar(tmp_path):
    with pytest.raises(InvalidParameterError, match="segmentation needs a folder"):
        segmentation_folder("phantoms:breast")
    with pytest.raises(InvalidParameterError, match="unknown phantom kind"):
        load_eval_set("sim:liver")
    with pytest.raises(InvalidParameterError, match="evaluate takes one data source"):
        load_eval_set("phantoms:breast+phantoms:carotid")
    mixed, title = load_eval_set("phantoms:mixed", size=SIZE, n=3)
    assert mixed.names == ["breast_000", "carotid_001", "breast_002"]
    assert title == "Evaluation on simulated mixed phantoms"


# --- phantoms -------------------------------------------------------------------------------------


def test_the_command_line_families_are_the_simulators():
    assert tuple(PHANTOMS) == PHANTOM_FAMILIES


def test_phantom_i_is_the_same_for_training_evaluation_and_simulate(tmp_path):
    expected = PHANTOMS["carotid"](SIZE, sample_seed(5, 1))
    assert phantom_family("mixed", 1) == "carotid" and phantom_family("breast", 1) == "breast"
    drawn = draw_phantom("mixed", 1, SIZE, 5)
    np.testing.assert_array_equal(drawn.bmode, expected.bmode)
    lists = datalists("phantoms:mixed", size=SIZE, seed=5, phantom_count=4, val_fraction=0.25)
    assert [len(lists.train), len(lists.val)] == [3, 1]
    np.testing.assert_array_equal(lists.train[1]["image"][0], expected.bmode.astype(np.float32))
    np.testing.assert_array_equal(lists.train[1]["label"][0], expected.clean)
    item = simulated_set("carotid", SIZE, 2, seed=5).loader(1)
    np.testing.assert_array_equal(item.noisy, expected.bmode.astype(np.float32))
    out = write_dataset("carotid", 2, tmp_path / "sim", size=SIZE, seed=5, fmt="nifti", progress=False)
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["samples"][1]["seed"] == sample_seed(5, 1)


def test_segmentation_phantoms_keep_their_own_seeds():
    task = get_task("carotid")
    entries = phantom_entries(task, 2, SIZE, seed=7)
    sample = PHANTOMS["carotid"](SIZE, 8)  # seed + index, as the shipped segmenters were trained
    np.testing.assert_array_equal(entries[1]["image"], sample.bmode.astype(np.float32))
    expected = np.zeros_like(label_map(sample))
    for value, target in task.phantom_labels.items():
        expected[label_map(sample) == value] = target
    np.testing.assert_array_equal(entries[1]["label"], expected)
    assert entries[1]["name"] == "phantom_0001"


# --- folders --------------------------------------------------------------------------------------


def test_image_files_lists_what_io_reads_and_skips_hidden_files(tmp_path):
    for name in ("b.png", "a.nii.gz", ".hidden.png", "c_mask.png", "notes.txt", "D.PNG", "x.dcm"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()  # a folder is not an image file
    (tmp_path / "scan").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 8)  # DICOM without a suffix
    names = [p.name for p in image_files(tmp_path)]
    assert names == ["D.PNG", "a.nii.gz", "b.png", "c_mask.png", "scan", "x.dcm"]
    assert [stem(Path(n)) for n in names] == ["D", "a", "b", "c_mask", "scan", "x"]


def test_a_data_folder_reads_images_and_leaves_masks_out(tmp_path):
    for name in ("b.png", "a.png", "c.png", ".a.png"):
        write_png(tmp_path / "images" / name)
    write_png(tmp_path / "images" / "a_mask.png")
    write_png(tmp_path / "masks" / "b_mask.png")
    write_png(tmp_path / "top.png")  # beside images/: not one of the data folder's images
    assert [p.name for p in folder_images(tmp_path)] == ["a.png", "b.png", "c.png"]
    (tmp_path / "split.json").write_text(json.dumps({"train": ["c.png", "a.png"], "val": ["images/b.png"]}))
    assert [p.name for p in folder_images(tmp_path, "train")] == ["a.png", "c.png"]  # folder order
    assert [p.name for p in folder_images(tmp_path, "val")] == ["b.png"]
    assert mask_path(tmp_path / "images" / "b.png") == tmp_path / "masks" / "b_mask.png"
    assert mask_path(tmp_path / "images" / "a.png") == tmp_path / "images" / "a_mask.png"
    assert mask_path(tmp_path / "images" / "c.png") is None


def test_a_data_folder_says_what_is_wrong(tmp_path):
    write_png(tmp_path / "a.png")
    with pytest.raises(InputNotFoundError, match="split file not found"):
        folder_images(tmp_path, "train")
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        folder_images(tmp_path, "train")
    (tmp_path / "split.json").write_text(json.dumps({"train": ["a.png"], "val": ["gone.png"]}))
    with pytest.raises(InvalidImageError, match=r"no split 'test' \(splits: train, val\)"):
        folder_images(tmp_path, "test")
    with pytest.raises(InvalidImageError, match=r"names files not in .*gone\.png"):
        folder_images(tmp_path, "val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidImageError, match="no image files found"):
        folder_images(tmp_path / "empty")
    with pytest.raises(InputNotFoundError, match="data folder does not exist"):
        folder_images(tmp_path / "nowhere")


def test_a_joined_source_keeps_the_order_of_its_parts(tmp_path):
    write_png(tmp_path / "real" / "images" / "one.png")
    write_png(tmp_path / "real" / "images" / "two.png")
    (tmp_path / "real" / "split.json").write_text(json.dumps({"train": ["two.png"], "val": ["one.png"]}))
    lists = datalists(f"phantoms:breast+{tmp_path / 'real'}", size=SIZE, phantom_count=2, max_train=1)
    assert [sorted(e) for e in lists.train] == [["image", "label"], ["image"]]
    assert lists.train[1] == {"image": str(tmp_path / "real" / "images" / "two.png")}
    assert lists.val[1] == {"image": str(tmp_path / "real" / "images" / "one.png")}
    assert lists.source == f"phantoms:breast+{tmp_path / 'real'}"


# --- the shared data sets: the same files, in the same order, as before the data package ---------

PINNED = {  # data set: {split: (count, digest of the ordered names)}
    "busi": {"train": (270, "71918fa94dd969ff"), "val": (47, "f32fea21349d7cb9")},
    "ccaui": {"train": (192, "c08e53dc3841fc08"), "val": (58, "f735728149a0d1f6")},
    "real_us_samples": {None: (16, "dd9246bba13f185b")},
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_shared_data_sets_list_the_same_files(name):
    if not (DATA / name).is_dir():
        pytest.skip(f"{DATA / name} is not here")
    for split, (count, digest) in PINNED[name].items():
        files = folder_images(DATA / name, split)
        assert (len(files), _digest(files)) == (count, digest), split
    if name == "busi":
        lists = datalists(DATA / name)
        assert (len(lists.train), len(lists.val)) == (270, 47)
        assert lists.train[0] == {"image": str(DATA / "busi" / "images" / "busi_benign_0002.png")}


def test_a_missing_mask_names_the_image_and_the_folder(tmp_path):
    image = write_png(tmp_path / "images" / "lesion.png")
    expected = r"no mask for lesion\.png \(expected masks/lesion_mask\.png\)"
    with pytest.raises(InputNotFoundError, match=expected):
        required_mask(image, tmp_path)
    mask = write_png(tmp_path / "masks" / "lesion_mask.png", value=255)
    assert required_mask(image, tmp_path) == mask
