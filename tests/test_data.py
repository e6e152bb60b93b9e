"""Tests for trainables.data on small files written in the real CIFAR-10 python layout."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from trainables import data
from trainables.data import (
    DATASETS,
    DataError,
    Splits,
    load_cifar10,
    load_dataset,
    load_digits,
    resolve_cifar10,
)

IMAGES_PER_BATCH = 20
BATCH_NAMES = (*data.CIFAR10_TRAIN_BATCHES, data.CIFAR10_TEST_BATCH)


# ---------------------------------------------------------------------------------------------
# Writing CIFAR-10 batches as Python 2 did
# ---------------------------------------------------------------------------------------------


class Python2StylePickler(pickle._Pickler):
    """Pickler that writes protocol 2 the way Python 2 and NumPy 1.x wrote the CIFAR-10 files.

    Python 3 pickles bytes under protocol 2 as calls to _codecs.encode. Python 2 wrote its str
    objects (the dict keys and the array buffers) as BINSTRING opcodes, which load as bytes
    with encoding="bytes". NumPy 1.x named the array constructor numpy.core.multiarray.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, reconstruct_module="numpy.core.multiarray"):
        super().__init__(file, protocol=2)
        self.reconstruct_module = reconstruct_module

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            line = f"{self.reconstruct_module}\n_reconstruct\n"
            self.write(pickle.GLOBAL + line.encode("ascii"))
            self.memoize(obj)
            return
        super().save_global(obj, name)


def dumps_python2(obj, reconstruct_module="numpy.core.multiarray") -> bytes:
    buffer = io.BytesIO()
    Python2StylePickler(buffer, reconstruct_module).dump(obj)
    return buffer.getvalue()


def make_batch(batch_index: int, count: int = IMAGES_PER_BATCH):
    """Return a batch dict whose pixels and labels differ per batch and per image."""
    rng = np.random.default_rng(batch_index)
    pixels = rng.integers(0, 256, size=(count, data._CIFAR10_ROW_LENGTH), dtype=np.uint8)
    labels = [(i + batch_index) % 10 for i in range(count)]
    return {
        b"batch_label": f"batch {batch_index} of 6".encode(),
        b"labels": labels,
        b"data": pixels,
        b"filenames": [f"image_{batch_index}_{i}.png".encode() for i in range(count)],
    }


def write_batches(folder: Path, **overrides) -> dict[str, dict]:
    """Write data_batch_1..5 and test_batch into folder; overrides replace whole batch dicts."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for index, name in enumerate(BATCH_NAMES):
        batch = overrides.get(name, make_batch(index))
        (folder / name).write_bytes(dumps_python2(batch))
        batches[name] = batch
    return batches


def write_archive(archive: Path, source_folder: Path, extra_members=()) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_folder, arcname=data.CIFAR10_FOLDER)
        for name, payload in extra_members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


@pytest.fixture()
def batches_folder(tmp_path):
    folder = tmp_path / "root" / data.CIFAR10_FOLDER
    batches = write_batches(folder)
    return folder, batches


class CreateFileOnLoad:
    """Pickles as a call to builtins.open(path, "w"), which creates the file when loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


class RunShellOnLoad:
    """Pickles as a call to os.system("touch path")."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


# ---------------------------------------------------------------------------------------------
# Loading the layouts
# ---------------------------------------------------------------------------------------------


def test_writer_uses_only_numpy_globals(batches_folder):
    folder, _ = batches_folder
    stream = (folder / "data_batch_1").read_bytes()
    globals_used = {
        arg for opcode, arg, _ in pickletools.genops(stream) if opcode.name == "GLOBAL"
    }
    assert globals_used == {
        "numpy.core.multiarray _reconstruct",
        "numpy ndarray",
        "numpy dtype",
    }


def test_cifar10_folder_shapes_and_dtypes(batches_folder):
    folder, _ = batches_folder
    (x_train, y_train), (x_test, y_test) = load_cifar10(folder)
    assert x_train.shape == (5 * IMAGES_PER_BATCH, 32, 32, 3)
    assert x_test.shape == (IMAGES_PER_BATCH, 32, 32, 3)
    assert x_train.dtype == np.uint8
    assert x_test.dtype == np.uint8
    assert y_train.shape == (5 * IMAGES_PER_BATCH,)
    assert y_test.shape == (IMAGES_PER_BATCH,)
    assert y_train.dtype == np.int64
    assert y_test.dtype == np.int64


def test_cifar10_labels_in_batch_order(batches_folder):
    folder, batches = batches_folder
    (_, y_train), (_, y_test) = load_cifar10(folder)
    expected_train = np.concatenate(
        [batches[name][b"labels"] for name in data.CIFAR10_TRAIN_BATCHES]
    )
    np.testing.assert_array_equal(y_train, expected_train)
    np.testing.assert_array_equal(y_test, batches[data.CIFAR10_TEST_BATCH][b"labels"])


def test_cifar10_pixel_positions(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(0)
    batch[b"data"][:] = 0
    # (image, row, column, channel, value): channel c of pixel (r, col) is stored at
    # c * 1024 + r * 32 + col in the image's row.
    marks = [(0, 0, 0, 0, 11), (3, 5, 7, 2, 201), (7, 31, 0, 1, 77), (19, 12, 31, 0, 255)]
    for image, row, column, channel, value in marks:
        batch[b"data"][image, channel * 1024 + row * 32 + column] = value
    write_batches(folder, data_batch_2=batch)

    (x_train, _), _ = load_cifar10(folder)
    second_batch = x_train[IMAGES_PER_BATCH : 2 * IMAGES_PER_BATCH]
    for image, row, column, channel, value in marks:
        assert second_batch[image, row, column, channel] == value, (image, row, column, channel)
    assert np.count_nonzero(second_batch) == len(marks)


def test_cifar10_every_pixel_matches_formula(batches_folder):
    folder, batches = batches_folder
    _, (x_test, _) = load_cifar10(folder)
    raw = batches[data.CIFAR10_TEST_BATCH][b"data"]
    image, row, column, channel = np.indices(x_test.shape)
    expected = raw[image, channel * 1024 + row * 32 + column]
    np.testing.assert_array_equal(x_test, expected)


def test_cifar10_parent_folder(batches_folder):
    folder, batches = batches_folder
    (x_parent, y_parent), _ = load_cifar10(folder.parent)
    (x_direct, y_direct), _ = load_cifar10(folder)
    np.testing.assert_array_equal(x_parent, x_direct)
    np.testing.assert_array_equal(y_parent, y_direct)


def test_cifar10_archive(tmp_path, batches_folder):
    folder, _ = batches_folder
    holder = tmp_path / "download"
    holder.mkdir()
    write_archive(holder / data.CIFAR10_ARCHIVE, folder)

    (x_train, y_train), (x_test, y_test) = load_cifar10(holder)
    (x_expected, y_expected), (x_test_expected, y_test_expected) = load_cifar10(folder)
    np.testing.assert_array_equal(x_train, x_expected)
    np.testing.assert_array_equal(y_train, y_expected)
    np.testing.assert_array_equal(x_test, x_test_expected)
    np.testing.assert_array_equal(y_test, y_test_expected)
    assert sorted(os.listdir(holder)) == [data.CIFAR10_ARCHIVE]


def test_cifar10_numpy2_global_name(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    batch = make_batch(9)
    (folder / "test_batch").write_bytes(dumps_python2(batch, "numpy._core.multiarray"))
    _, (x_test, y_test) = load_cifar10(folder)
    assert x_test.shape == (IMAGES_PER_BATCH, 32, 32, 3)
    np.testing.assert_array_equal(y_test, batch[b"labels"])


# ---------------------------------------------------------------------------------------------
# Rejecting crafted, corrupt and incomplete files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", [CreateFileOnLoad, RunShellOnLoad])
def test_crafted_pickle_runs_nothing(tmp_path, payload_class):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    target = tmp_path / "created_by_pickle"
    (folder / "data_batch_4").write_bytes(pickle.dumps(payload_class(target), protocol=2))

    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_4" in str(raised.value)
    assert not target.exists()


def test_crafted_value_inside_batch_runs_nothing(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    target = tmp_path / "created_by_pickle"
    batch = make_batch(0)
    batch[b"filenames"] = CreateFileOnLoad(target)
    batch[b"labels"] = RunShellOnLoad(target)
    write_batches(folder, data_batch_1=batch)

    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_1" in str(raised.value)
    assert "open" in str(raised.value) or "system" in str(raised.value)
    assert not target.exists()


def test_numpy_function_outside_allowlist(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    # PROTO 2, GLOBAL numpy.load, STOP: would return numpy.load if it were allowed.
    (folder / "test_batch").write_bytes(b"\x80\x02cnumpy\nload\n.")
    with pytest.raises(DataError, match=r"numpy\.load"):
        load_cifar10(folder)


def test_truncated_batch(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    stream = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(stream[: len(stream) // 2])
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_2" in str(raised.value)
    assert "truncated" in str(raised.value)


def test_garbage_batch(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    (folder / "data_batch_3").write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(folder)


@pytest.mark.parametrize(
    "bad_data",
    [
        np.zeros((IMAGES_PER_BATCH, 3071), np.uint8),
        np.zeros((IMAGES_PER_BATCH, 32, 32, 3), np.uint8),
        np.zeros((IMAGES_PER_BATCH, 3072), np.float32),
        np.zeros((0, 3072), np.uint8),
        [[0] * 3072] * IMAGES_PER_BATCH,
    ],
    ids=["short_rows", "four_dims", "float32", "empty", "list"],
)
def test_wrong_data_shape_or_type(tmp_path, bad_data):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(5)
    batch[b"data"] = bad_data
    write_batches(folder, test_batch=batch)
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "test_batch" in str(raised.value)
    assert "b'data'" in str(raised.value)


def test_label_count_mismatch(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(0)
    batch[b"labels"] = batch[b"labels"][:-1]
    write_batches(folder, data_batch_1=batch)
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_1" in str(raised.value)
    assert f"{IMAGES_PER_BATCH - 1} labels for {IMAGES_PER_BATCH} images" in str(raised.value)


@pytest.mark.parametrize("bad_label", [10, -1, 255])
def test_label_out_of_range(tmp_path, bad_label):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(0)
    batch[b"labels"][4] = bad_label
    write_batches(folder, data_batch_5=batch)
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_5" in str(raised.value)
    assert f"label {bad_label} at index 4" in str(raised.value)


@pytest.mark.parametrize("bad_labels", [["a"] * IMAGES_PER_BATCH, [0.5] * IMAGES_PER_BATCH, 7])
def test_labels_not_integers(tmp_path, bad_labels):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(0)
    batch[b"labels"] = bad_labels
    write_batches(folder, data_batch_1=batch)
    with pytest.raises(DataError, match="b'labels'"):
        load_cifar10(folder)


@pytest.mark.parametrize("key", [b"data", b"labels"])
def test_missing_key(tmp_path, key):
    folder = tmp_path / data.CIFAR10_FOLDER
    batch = make_batch(0)
    del batch[key]
    write_batches(folder, data_batch_3=batch)
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_3" in str(raised.value)
    assert repr(key) in str(raised.value)


def test_batch_not_a_dict(tmp_path):
    folder = tmp_path / data.CIFAR10_FOLDER
    write_batches(folder)
    (folder / "data_batch_1").write_bytes(dumps_python2([1, 2, 3]))
    with pytest.raises(DataError, match="expected a dict"):
        load_cifar10(folder)


def test_missing_batch_file(batches_folder):
    folder, _ = batches_folder
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as raised:
        load_cifar10(folder)
    assert "data_batch_3" in str(raised.value)
    assert "missing" in str(raised.value)


def test_folder_without_cifar10_files(tmp_path):
    (tmp_path / "unrelated.txt").write_text("not CIFAR-10")
    with pytest.raises(DataError) as raised:
        load_cifar10(tmp_path)
    assert data.CIFAR10_FOLDER in str(raised.value)
    assert data.CIFAR10_ARCHIVE in str(raised.value)


def test_nonexistent_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10(tmp_path / "absent")


@pytest.mark.parametrize(
    "member_name",
    ["../escaped", "cifar-10-batches-py/../../escaped", "/tmp/escaped", "..\\escaped"],
)
def test_archive_unsafe_member(tmp_path, batches_folder, member_name):
    folder, _ = batches_folder
    holder = tmp_path / "download"
    holder.mkdir()
    write_archive(holder / data.CIFAR10_ARCHIVE, folder, [(member_name, b"payload")])

    with pytest.raises(DataError) as raised:
        load_cifar10(holder)
    assert repr(member_name) in str(raised.value)
    assert not (tmp_path / "escaped").exists()
    assert sorted(os.listdir(holder)) == [data.CIFAR10_ARCHIVE]


def test_archive_missing_member(tmp_path, batches_folder):
    folder, _ = batches_folder
    (folder / "test_batch").unlink()
    holder = tmp_path / "download"
    holder.mkdir()
    write_archive(holder / data.CIFAR10_ARCHIVE, folder)
    with pytest.raises(DataError, match="cifar-10-batches-py/test_batch"):
        load_cifar10(holder)


def test_archive_truncated(tmp_path, batches_folder):
    folder, _ = batches_folder
    holder = tmp_path / "download"
    holder.mkdir()
    archive = holder / data.CIFAR10_ARCHIVE
    write_archive(archive, folder)
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(DataError, match=data.CIFAR10_ARCHIVE):
        load_cifar10(holder)


def test_archive_with_crafted_member(tmp_path):
    folder = tmp_path / "source" / data.CIFAR10_FOLDER
    write_batches(folder)
    target = tmp_path / "created_by_pickle"
    (folder / "data_batch_2").write_bytes(pickle.dumps(CreateFileOnLoad(target), protocol=2))
    holder = tmp_path / "download"
    holder.mkdir()
    write_archive(holder / data.CIFAR10_ARCHIVE, folder)

    with pytest.raises(DataError, match="data_batch_2"):
        load_cifar10(holder)
    assert not target.exists()


# ---------------------------------------------------------------------------------------------
# resolve_cifar10
# ---------------------------------------------------------------------------------------------


def test_resolve_nonexistent_data_dir(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(DataError) as raised:
        resolve_cifar10(missing)
    assert str(raised.value).startswith(f"--data-dir {missing} does not exist")
    assert data.CIFAR10_ARCHIVE in str(raised.value)


def test_resolve_data_dir_without_files(tmp_path):
    with pytest.raises(DataError) as raised:
        resolve_cifar10(tmp_path)
    assert f"--data-dir {tmp_path}" in str(raised.value)
    assert data.CIFAR10_FOLDER in str(raised.value)
    assert data.CIFAR10_ARCHIVE in str(raised.value)


def test_resolve_data_dir_layouts(tmp_path, batches_folder):
    folder, _ = batches_folder
    holder = tmp_path / "download"
    holder.mkdir()
    write_archive(holder / data.CIFAR10_ARCHIVE, folder)

    assert resolve_cifar10(folder.parent) == folder
    assert resolve_cifar10(folder) == folder
    assert resolve_cifar10(str(holder)) == holder / data.CIFAR10_ARCHIVE


@pytest.mark.parametrize(
    "cache_folder",
    ["cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"],
)
def test_resolve_keras_cache(tmp_path, monkeypatch, cache_folder):
    keras_home = tmp_path / "keras_home"
    folder = keras_home / "datasets" / cache_folder
    write_batches(folder)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))

    resolved = resolve_cifar10(None)
    assert resolved == folder
    (x_train, _), _ = load_cifar10(resolved)
    assert x_train.shape == (5 * IMAGES_PER_BATCH, 32, 32, 3)


# ---------------------------------------------------------------------------------------------
# digits and resizing
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shape_and_dtype(digits):
    x, y = digits
    assert x.shape == (1797, 16, 16, 3)
    assert x.dtype == np.uint8
    assert y.shape == (1797,)
    assert y.dtype == np.int64


def test_digits_values_and_classes(digits):
    x, y = digits
    assert x.min() == 0
    assert x.max() >= 240
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(x[..., 0], x[..., 1])
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


def test_digits_native_size_scaling():
    from sklearn.datasets import load_digits as load_sklearn_digits

    x, _ = load_digits(image_size=8)
    expected = np.rint(load_sklearn_digits().images * 255 / 16).astype(np.uint8)
    assert x.shape == (1797, 8, 8, 3)
    np.testing.assert_array_equal(x[..., 0], expected)


@pytest.mark.parametrize("image_size", [0, -4, 2.5, True, "16"])
def test_digits_invalid_image_size(image_size):
    with pytest.raises(DataError, match="image_size"):
        load_digits(image_size)


@pytest.mark.parametrize(("in_size", "out_size"), [(8, 16), (8, 13), (32, 16), (32, 24)])
def test_resize_matches_tensorflow(in_size, out_size):
    import tensorflow as tf

    rng = np.random.default_rng(in_size * 100 + out_size)
    images = rng.uniform(0, 255, size=(3, in_size, in_size, 2)).astype(np.float32)
    expected = tf.image.resize(images, (out_size, out_size), method="bilinear").numpy()
    np.testing.assert_allclose(data._resize_bilinear(images, out_size), expected, atol=1e-3)


def test_resize_images_constant_image():
    images = np.full((2, 8, 8, 3), 200, np.uint8)
    resized = data.resize_images(images, 20)
    assert resized.shape == (2, 20, 20, 3)
    assert resized.dtype == np.uint8
    assert np.all(resized == 200)


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def labelled_ids(count: int = 400, num_classes: int = 4):
    """Return images whose first pixel contains a unique id, and labels with equal class sizes."""
    ids = np.arange(count)
    x = np.zeros((count, 2, 2, 3), np.int64)
    x[:, 0, 0, 0] = ids
    return x, (ids % num_classes).astype(np.int64)


def ids_of(images):
    return set(images[:, 0, 0, 0].tolist())


def test_split_sizes():
    x, y = labelled_ids()
    splits = Splits.split(x, y, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert len(splits.y_train) == 280
    assert len(splits.y_val) == 40
    assert len(splits.y_test) == 80
    assert splits.num_classes == 4
    assert splits.image_size == 2


def test_split_deterministic_for_seed():
    x, y = labelled_ids()
    first = Splits.split(x, y, seed=3)
    second = data.split(x, y, seed=3)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))


def test_split_differs_across_seeds():
    x, y = labelled_ids()
    first = Splits.split(x, y, seed=3)
    other = Splits.split(x, y, seed=4)
    assert ids_of(first.x_test) != ids_of(other.x_test)


def test_split_disjoint_and_complete():
    x, y = labelled_ids()
    splits = Splits.split(x, y, seed=1)
    train, val, test = ids_of(splits.x_train), ids_of(splits.x_val), ids_of(splits.x_test)
    assert not train & val
    assert not train & test
    assert not val & test
    assert train | val | test == set(range(len(y)))


def test_split_keeps_labels_with_images():
    x, y = labelled_ids()
    splits = Splits.split(x, y, seed=1)
    for part in ("train", "val", "test"):
        ids = getattr(splits, f"x_{part}")[:, 0, 0, 0]
        np.testing.assert_array_equal(getattr(splits, f"y_{part}"), ids % 4)


def test_split_stratified():
    x, y = labelled_ids()
    splits = Splits.split(x, y, seed=2, val_fraction=0.1, test_fraction=0.2)
    assert np.bincount(splits.y_val).tolist() == [10, 10, 10, 10]
    assert np.bincount(splits.y_test).tolist() == [20, 20, 20, 20]
    assert np.bincount(splits.y_train).tolist() == [70, 70, 70, 70]


@pytest.mark.parametrize(
    ("val_fraction", "test_fraction"),
    [(0, 0.2), (1, 0.2), (-0.1, 0.2), (float("nan"), 0.2), (0.1, 1.5), (True, 0.2), (0.5, 0.5)],
)
def test_split_invalid_fractions(val_fraction, test_fraction):
    x, y = labelled_ids()
    with pytest.raises(DataError, match="fraction"):
        Splits.split(x, y, seed=0, val_fraction=val_fraction, test_fraction=test_fraction)


def test_split_too_small_for_classes():
    x, y = labelled_ids(count=40, num_classes=4)
    with pytest.raises(DataError, match="every class"):
        Splits.split(x, y, seed=0, val_fraction=0.05, test_fraction=0.2)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0"])
def test_split_invalid_seed(seed):
    x, y = labelled_ids()
    with pytest.raises(DataError, match="seed"):
        Splits.split(x, y, seed=seed)


def test_splits_reject_mismatched_lengths():
    x = np.zeros((4, 2, 2, 3), np.uint8)
    y = np.zeros(4, np.int64)
    with pytest.raises(DataError, match="val split"):
        Splits(x, y, x, y[:3], x, y)


# ---------------------------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------------------------


def test_load_dataset_unknown_name():
    with pytest.raises(DataError) as raised:
        load_dataset("imagenet")
    assert "'imagenet'" in str(raised.value)
    for name in DATASETS:
        assert name in str(raised.value)


def test_load_dataset_digits():
    splits = load_dataset("digits", seed=0)
    assert splits.image_size == 16
    assert splits.num_classes == 10
    assert len(splits.y_test) == round(1797 * 0.2)
    assert len(splits.y_val) == round(1797 * 0.1)
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 1797
    assert splits.x_train.dtype == np.uint8


def test_load_dataset_digits_image_size():
    splits = load_dataset("digits", image_size=12, seed=5)
    assert splits.x_train.shape[1:] == (12, 12, 3)
    assert splits.x_test.shape[1:] == (12, 12, 3)


def test_load_dataset_cifar10_splits(batches_folder):
    folder, _ = batches_folder
    splits = load_dataset("cifar10", data_dir=folder.parent, seed=0, val_fraction=0.1)
    (x_train_all, _), (x_test, y_test) = load_cifar10(folder)
    assert len(splits.y_train) == 90
    assert len(splits.y_val) == 10
    np.testing.assert_array_equal(splits.x_test, x_test)
    np.testing.assert_array_equal(splits.y_test, y_test)
    assert np.bincount(splits.y_val).tolist() == [1] * 10
    assert splits.num_classes == 10
    assert splits.image_size == 32


def test_load_dataset_cifar10_train_val_from_official_train(batches_folder):
    folder, _ = batches_folder
    splits = load_dataset("cifar10", data_dir=folder, seed=7)
    (x_train_all, _), _ = load_cifar10(folder)
    official = {image.tobytes() for image in x_train_all}
    used = [image.tobytes() for image in np.concatenate([splits.x_train, splits.x_val])]
    assert len(used) == len(official)
    assert set(used) == official


def test_load_dataset_cifar10_resized(batches_folder):
    folder, _ = batches_folder
    splits = load_dataset("cifar10", data_dir=folder, image_size=16)
    assert splits.x_train.shape[1:] == (16, 16, 3)
    assert splits.x_val.shape[1:] == (16, 16, 3)
    assert splits.x_test.shape[1:] == (16, 16, 3)
    assert splits.x_test.dtype == np.uint8


def test_load_dataset_cifar10_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("cifar10", data_dir=tmp_path / "absent")


def test_load_dataset_invalid_val_fraction(batches_folder):
    folder, _ = batches_folder
    with pytest.raises(DataError, match="val_fraction"):
        load_dataset("cifar10", data_dir=folder, val_fraction=1.2)


def test_batches_rewritten_by_python3_load(tmp_path):
    # Python 3 pickles bytes under protocol 2 as calls to _codecs.encode(text, "latin1").
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            b"batch_label": b"rewritten",
            b"labels": [int(v) for v in rng.integers(0, 10, size=4)],
            b"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8),
            b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (x_train, y_train), (x_test, y_test) = load_cifar10(folder)
    assert x_train.shape == (20, 32, 32, 3)
    assert x_test.shape == (4, 32, 32, 3)
    assert y_train.dtype == np.int64
