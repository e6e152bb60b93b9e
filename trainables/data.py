"""Data sets for the SimCLR study: CIFAR-10 from local files and scikit-learn's digits.

Images are uint8 arrays in NHWC layout (N, height, width, 3) and labels are int64 arrays of
shape (N,) with values 0..num_classes-1. Every error about input data is a DataError whose
message names the value or file and the fix.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import pickle
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

import numpy as np

DATASETS = ("digits", "cifar10")

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_IMAGE_SIZE = 32
CIFAR10_NUM_CLASSES = 10
# A row of a batch's b"data" array has 1024 red, then 1024 green, then 1024 blue values,
# each plane a 32x32 image in row-major order.
_CIFAR10_ROW_LENGTH = 3 * CIFAR10_IMAGE_SIZE * CIFAR10_IMAGE_SIZE

DIGITS_IMAGE_SIZE = 16
_DIGITS_MAX_VALUE = 16.0

# Keras cache folders that keras.datasets.cifar10.load_data() fills, relative to
# KERAS_HOME/datasets. Keras 2 and early Keras 3 extract to the first one, and Keras 3.15
# extracts into the second one.
_KERAS_CACHE_FOLDERS = (
    Path(CIFAR10_FOLDER),
    Path("cifar-10-batches-py-target") / CIFAR10_FOLDER,
)

# Upper bound on float32 values held at once while resizing (64 MiB).
_RESIZE_CHUNK_VALUES = 2**24

_PLACEMENT_HINT = (
    f"pass --data-dir with a folder that contains {CIFAR10_FOLDER}/ or {CIFAR10_ARCHIVE} "
    f"(download it from {CIFAR10_PAGE})"
)


class DataError(ValueError):
    """Invalid or missing input data, with a one-line message that names the value and the fix."""


# ---------------------------------------------------------------------------------------------
# Reading CIFAR-10 batch pickles
# ---------------------------------------------------------------------------------------------


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy releases without numpy._core
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(text, encoding):
    """Stand-in for _codecs.encode that only does what pickle protocol 2 needs it for."""
    if encoding != "latin1" or not isinstance(text, str):
        raise DataError(f"the pickle calls _codecs.encode with {encoding!r}; only 'latin1' is accepted")
    return text.encode("latin1")


# Globals that the pickled b"data" array refers to, which are the only ones in a CIFAR-10
# batch. NumPy 1.x writes numpy.core.multiarray and NumPy 2.x writes numpy._core.multiarray,
# and both resolve to the same function. A batch that Python 3 rewrote with protocol 2
# stores its bytes as calls to _codecs.encode(text, "latin1").
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# Exceptions that pickle and NumPy raise on truncated or corrupt pickle streams.
_CORRUPT_PICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the NumPy globals a CIFAR-10 batch contains.

    find_class runs when the GLOBAL opcode is read, before any REDUCE opcode can call what it
    returned, so a pickle that refers to anything else (os.system, builtins.open) is rejected
    before it runs code.
    """

    def __init__(self, file: BinaryIO, source: str):
        # Python 2 wrote the batches, and encoding="bytes" loads its str objects as bytes,
        # which keeps the dict keys (b"data") and the array buffers intact.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DataError(
                f"{self._source}: the pickle refers to {module}.{name}, which a CIFAR-10 batch "
                f"never contains, so it was not loaded; replace the file with the original "
                f"from {CIFAR10_PAGE}"
            )
        return allowed


def _read_batch(file: BinaryIO, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one batch and return its images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    try:
        batch = _BatchUnpickler(file, source).load()
    except DataError:
        raise
    except _CORRUPT_PICKLE_ERRORS as error:
        raise DataError(
            f"{source}: not a readable pickle ({type(error).__name__}: {error}); the file is "
            f"truncated or corrupt, replace it with the original from {CIFAR10_PAGE}"
        ) from error
    return _validate_batch(batch, source)


def _validate_batch(batch: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, dict):
        raise DataError(
            f"{source}: expected a dict with keys b'data' and b'labels', "
            f"got {type(batch).__name__}; replace the file with the original from {CIFAR10_PAGE}"
        )
    missing = [key for key in (b"data", b"labels") if key not in batch]
    if missing:
        raise DataError(
            f"{source}: missing key(s) {', '.join(map(repr, missing))}; "
            f"replace the file with the original from {CIFAR10_PAGE}"
        )

    data = batch[b"data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _CIFAR10_ROW_LENGTH
    ):
        found = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DataError(
            f"{source}: b'data' must be a uint8 array of shape (N, {_CIFAR10_ROW_LENGTH}), "
            f"got {found}; replace the file with the original from {CIFAR10_PAGE}"
        )
    if data.shape[0] == 0:
        raise DataError(f"{source}: b'data' contains no images; replace the file with the original")

    labels = _validate_labels(batch[b"labels"], data.shape[0], source)

    # (N, 3072) -> (N, 3, 32, 32) channel planes -> (N, 32, 32, 3) NHWC.
    side = CIFAR10_IMAGE_SIZE
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _validate_labels(raw: object, num_images: int, source: str) -> np.ndarray:
    if not isinstance(raw, (list, np.ndarray)):
        raise DataError(
            f"{source}: b'labels' must be a list of integers, got {type(raw).__name__}; "
            f"replace the file with the original"
        )
    try:
        labels = np.asarray(raw)
    except (ValueError, TypeError) as error:
        raise DataError(f"{source}: b'labels' is not a flat list of integers ({error})") from error
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(
            f"{source}: b'labels' must be a flat list of integers, got {labels.dtype} values "
            f"of shape {labels.shape}; replace the file with the original"
        )
    if labels.shape[0] != num_images:
        raise DataError(
            f"{source}: {labels.shape[0]} labels for {num_images} images; "
            f"replace the file with the original"
        )
    out_of_range = np.flatnonzero((labels < 0) | (labels >= CIFAR10_NUM_CLASSES))
    if out_of_range.size:
        index = int(out_of_range[0])
        raise DataError(
            f"{source}: label {int(labels[index])} at index {index} is outside "
            f"0..{CIFAR10_NUM_CLASSES - 1}; replace the file with the original"
        )
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 layouts: batches folder and tar.gz archive
# ---------------------------------------------------------------------------------------------


def _expected_layouts(path: Path) -> str:
    return (
        f"expected {path / CIFAR10_FOLDER}/ or {path / CIFAR10_ARCHIVE}, or the batch files "
        f"({', '.join(CIFAR10_TRAIN_BATCHES)}, {CIFAR10_TEST_BATCH}) directly in {path}"
    )


def _find_cifar10_source(path: Path) -> Path | None:
    """Return the batches folder or archive that `path` points to, or None if there is none."""
    if path.is_file():
        return path
    if (path / CIFAR10_FOLDER).is_dir():
        return path / CIFAR10_FOLDER
    batch_names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
    if path.name == CIFAR10_FOLDER or any((path / name).exists() for name in batch_names):
        return path
    if (path / CIFAR10_ARCHIVE).is_file():
        return path / CIFAR10_ARCHIVE
    return None


def _load_folder(folder: Path):
    batch_names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
    missing = [name for name in batch_names if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{folder}: missing batch file(s) {', '.join(missing)}; the folder must contain "
            f"{', '.join(batch_names)} as extracted from {CIFAR10_ARCHIVE} ({CIFAR10_PAGE})"
        )

    batches = {}
    for name in batch_names:
        path = folder / name
        try:
            with path.open("rb") as file:
                batches[name] = _read_batch(file, str(path))
        except OSError as error:
            raise DataError(f"{path}: cannot be read ({error}); check its permissions") from error
    return batches


def _is_unsafe_member_name(name: str) -> bool:
    """Return whether a tar member name is absolute or climbs out of the archive with '..'."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return (
        posix.is_absolute()
        or bool(windows.drive)
        or windows.is_absolute()
        or ".." in posix.parts
        or ".." in windows.parts
    )


def _load_archive(archive: Path):
    """Read the batches from the members of a cifar-10-python.tar.gz without extracting it."""
    batch_names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            unsafe = [member.name for member in members if _is_unsafe_member_name(member.name)]
            if unsafe:
                raise DataError(
                    f"{archive}: member name {unsafe[0]!r} is absolute or contains '..', "
                    f"so the archive was rejected; download the original from {CIFAR10_PAGE}"
                )

            found = {}
            for member in members:
                parts = PurePosixPath(member.name).parts
                if member.isfile() and len(parts) == 2 and parts[0] == CIFAR10_FOLDER:
                    if parts[1] in batch_names:
                        found[parts[1]] = member
            missing = [f"{CIFAR10_FOLDER}/{name}" for name in batch_names if name not in found]
            if missing:
                raise DataError(
                    f"{archive}: missing member(s) {', '.join(missing)}; "
                    f"download the original {CIFAR10_ARCHIVE} from {CIFAR10_PAGE}"
                )

            # Reading in archive order lets the gzip stream move forward only.
            batches = {}
            for name, member in sorted(found.items(), key=lambda item: item[1].offset_data):
                with tar.extractfile(member) as file:
                    batches[name] = _read_batch(file, f"{archive}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(
            f"{archive}: not a readable .tar.gz archive ({type(error).__name__}: {error}); "
            f"download the original {CIFAR10_ARCHIVE} from {CIFAR10_PAGE}"
        ) from error
    return batches


def load_cifar10(path: str | os.PathLike):
    """Load CIFAR-10 from the python-version files.

    `path` is a folder that contains cifar-10-batches-py/, that folder itself, a folder that
    contains cifar-10-python.tar.gz, or that archive file. Archives are read in memory and
    never extracted.

    Returns ((x_train, y_train), (x_test, y_test)) with x uint8 (N, 32, 32, 3) and y int64
    (N,). The training images come in batch order data_batch_1..5 (50,000 in the original
    files) and the test images from test_batch (10,000).
    Raises DataError naming the file and the defect when a file is missing, truncated,
    wrongly shaped, or refers to anything other than NumPy arrays.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"CIFAR-10 path {path} does not exist; {_PLACEMENT_HINT}")
    source = _find_cifar10_source(path)
    if source is None:
        raise DataError(f"no CIFAR-10 files in {path}; {_expected_layouts(path)}")

    batches = _load_archive(source) if source.is_file() else _load_folder(source)

    x_train = np.concatenate([batches[name][0] for name in CIFAR10_TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in CIFAR10_TRAIN_BATCHES])
    x_test, y_test = batches[CIFAR10_TEST_BATCH]
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------------------------
# Finding CIFAR-10: --data-dir, the Keras cache, or a Keras download
# ---------------------------------------------------------------------------------------------


def _keras_datasets_dirs() -> list[Path]:
    """Return the folders where Keras caches data sets, in the order Keras uses them."""
    # keras.utils.get_file (Keras 3.15) uses KERAS_HOME or ~/.keras, and falls back to
    # /tmp/.keras when that folder is not writable.
    base = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    dirs = [base / "datasets"]
    if not os.access(base, os.W_OK):
        temp_root = Path("/tmp") if os.path.isdir("/tmp") else Path(tempfile.gettempdir())
        dirs.append(temp_root / ".keras" / "datasets")
    return dirs


def _find_keras_cache() -> Path | None:
    for datasets_dir in _keras_datasets_dirs():
        for folder in _KERAS_CACHE_FOLDERS:
            if (datasets_dir / folder).is_dir():
                return datasets_dir / folder
    return None


def _download_with_keras() -> Path:
    # NOTE: load_data() also decodes all 60,000 images, which are thrown away here because
    # load_cifar10 reads the cached files again. This happens once, on the first download.
    try:
        import keras

        keras.datasets.cifar10.load_data()
    except Exception as error:  # Keras 3.15 get_file wraps network failures in a bare Exception.
        raise DataError(
            f"CIFAR-10 was not found in the Keras cache and the download failed "
            f"({type(error).__name__}: {error}); {_PLACEMENT_HINT}"
        ) from error

    cached = _find_keras_cache()
    if cached is None:
        searched = ", ".join(str(folder) for folder in _keras_datasets_dirs())
        raise DataError(
            f"keras.datasets.cifar10.load_data() finished but no {CIFAR10_FOLDER} folder was "
            f"found under {searched}; {_PLACEMENT_HINT}"
        )
    return cached


def resolve_cifar10(data_dir: str | os.PathLike | None) -> Path:
    """Find the CIFAR-10 files and return a path that load_cifar10 accepts.

    A given data_dir must exist and contain one of the layouts load_cifar10 accepts. Without
    one, the Keras cache (KERAS_HOME or ~/.keras, under datasets/) is used when it contains
    cifar-10-batches-py, and otherwise keras.datasets.cifar10.load_data() downloads it, which
    works only online. When the download fails, the DataError asks for --data-dir with
    cifar-10-batches-py/ or cifar-10-python.tar.gz.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise DataError(
                f"--data-dir {data_dir} does not exist; pass a folder that contains "
                f"{CIFAR10_FOLDER}/ or {CIFAR10_ARCHIVE} (download it from {CIFAR10_PAGE})"
            )
        source = _find_cifar10_source(path)
        if source is None:
            raise DataError(
                f"--data-dir {data_dir} has no CIFAR-10 files; {_expected_layouts(path)}"
            )
        return source

    cached = _find_keras_cache()
    if cached is not None:
        return cached
    return _download_with_keras()


# ---------------------------------------------------------------------------------------------
# Resizing and the digits data set
# ---------------------------------------------------------------------------------------------


def _bilinear_taps(in_size: int, out_size: int):
    """Return source indices and weights of bilinear resizing along one axis.

    Uses half-pixel centers with edge clamping, as tf.image.resize(method="bilinear",
    antialias=False) does in TensorFlow 2.
    """
    centers = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    floor = np.floor(centers)
    lower = np.clip(floor, 0, in_size - 1).astype(np.intp)
    upper = np.clip(floor + 1, 0, in_size - 1).astype(np.intp)
    weight = (centers - floor).astype(np.float32)
    return lower, upper, weight


def _resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Resize float images (N, H, W, C) to (N, size, size, C) float32 with bilinear sampling."""
    images = images.astype(np.float32, copy=False)
    rows_low, rows_high, row_weight = _bilinear_taps(images.shape[1], size)
    cols_low, cols_high, col_weight = _bilinear_taps(images.shape[2], size)

    # Bilinear sampling is separable: rows (N, size, W, C), then columns (N, size, size, C).
    row_weight = row_weight[None, :, None, None]
    rows = images[:, rows_low] * (1 - row_weight) + images[:, rows_high] * row_weight
    col_weight = col_weight[None, None, :, None]
    return rows[:, :, cols_low] * (1 - col_weight) + rows[:, :, cols_high] * col_weight


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 images (N, H, W, C) to (N, size, size, C) uint8 with bilinear sampling.

    Matches tf.image.resize(method="bilinear") followed by rounding to the nearest integer.
    """
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((images.shape[0], size, size, images.shape[3]), dtype=np.uint8)
    chunk = max(1, _RESIZE_CHUNK_VALUES // (size * size * images.shape[3]))
    for start in range(0, images.shape[0], chunk):
        resized = _resize_bilinear(images[start : start + chunk], size)
        out[start : start + chunk] = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return out


def load_digits(image_size: int = DIGITS_IMAGE_SIZE):
    """Load scikit-learn's bundled handwritten digits as 3-channel uint8 images.

    The 1,797 8x8 images with values 0..16 are scaled to 0..255, resized bilinearly to
    image_size x image_size and repeated to 3 channels. Returns (x, y): x uint8
    (1797, image_size, image_size, 3), y int64 (1797,) with classes 0..9. Nothing is downloaded.
    """
    _validate_image_size(image_size)
    from sklearn.datasets import load_digits as load_sklearn_digits

    digits = load_sklearn_digits()
    scaled = np.rint(digits.images * (255.0 / _DIGITS_MAX_VALUE)).astype(np.uint8)
    images = resize_images(scaled[..., None], image_size)  # (1797, S, S, 1)
    x = np.repeat(images, 3, axis=-1)  # (1797, S, S, 3)
    y = digits.target.astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def _validate_image_size(image_size: object) -> None:
    is_integer = isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool)
    if not is_integer or image_size < 1:
        raise DataError(
            f"image_size={image_size!r} is invalid; pass a positive integer such as 16 or 32"
        )


def _validate_fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise DataError(f"{name}={value!r} is invalid; pass a fraction strictly between 0 and 1")


def _validate_seed(seed: object) -> None:
    # scikit-learn seeds NumPy's RandomState, which takes integers in [0, 2**32).
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise DataError(f"seed={seed!r} is invalid; pass an integer from 0 to 2**32 - 1")


def _stratified_holdout(x, y, count: int, seed: int, name: str):
    """Split off `count` examples with the class proportions of y; return (x, x_out, y, y_out)."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(x, y, test_size=count, random_state=seed, stratify=y)
    except ValueError as error:
        raise DataError(
            f"cannot hold out {count} of {len(y)} examples for {name} with every class "
            f"represented ({error}); change the split fractions"
        ) from error


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Splits:
    """Train, validation and test arrays of one data set.

    Train is for pretraining and probe fitting, validation for model selection (kNN accuracy),
    test only for the final probe accuracy. x arrays are uint8 (N, S, S, 3), y arrays int64 (N,).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
                raise DataError(
                    f"{part} split has x of shape {x.shape} and y of shape {y.shape}; "
                    f"expected x (N, S, S, C) and y (N,) with the same N"
                )

    @property
    def num_classes(self) -> int:
        """Number of classes, taken as the largest label plus one."""
        labels = np.concatenate([self.y_train, self.y_val, self.y_test])
        return int(labels.max()) + 1 if labels.size else 0

    @property
    def image_size(self) -> int:
        """Height (and width) of the images in pixels."""
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Splits(train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
            f"image_size={self.image_size}, num_classes={self.num_classes})"
        )

    @classmethod
    def split(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
    ) -> "Splits":
        """Split x and y into stratified train, validation and test parts.

        The fractions are of all examples, each part gets round(N * fraction) examples, and
        the rest is train. The same inputs and seed give the same split.
        """
        _validate_seed(seed)
        _validate_fraction("val_fraction", val_fraction)
        _validate_fraction("test_fraction", test_fraction)
        if val_fraction + test_fraction >= 1:
            raise DataError(
                f"val_fraction={val_fraction} plus test_fraction={test_fraction} leaves no "
                f"training examples; make their sum less than 1"
            )
        if len(x) != len(y):
            raise DataError(
                f"x has {len(x)} examples but y has {len(y)}; pass arrays of equal length"
            )

        test_count = round(len(y) * test_fraction)
        val_count = round(len(y) * val_fraction)
        x_rest, x_test, y_rest, y_test = _stratified_holdout(x, y, test_count, seed, "test")
        x_train, x_val, y_train, y_val = _stratified_holdout(
            x_rest, y_rest, val_count, seed, "validation"
        )
        return cls(x_train, y_train, x_val, y_val, x_test, y_test)


# Module-level name for Splits.split.
split = Splits.split


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> Splits:
    """Load a data set from DATASETS and split it deterministically for the seed.

    digits: stratified train, validation and test parts of the 1,797 images, at image_size
    (default 16). data_dir is not used.

    cifar10: test is the official test batch and validation a stratified val_fraction of the
    official training set. Train is the rest of the training set. Images are resized when
    image_size is not 32. test_fraction is not used, and the files come from
    resolve_cifar10(data_dir).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if image_size is not None:
        _validate_image_size(image_size)
    _validate_seed(seed)
    _validate_fraction("val_fraction", val_fraction)

    if name == "digits":
        x, y = load_digits(DIGITS_IMAGE_SIZE if image_size is None else image_size)
        return Splits.split(x, y, seed, val_fraction, test_fraction)

    (x_all_train, y_all_train), (x_test, y_test) = load_cifar10(resolve_cifar10(data_dir))
    val_count = round(len(y_all_train) * val_fraction)
    x_train, x_val, y_train, y_val = _stratified_holdout(
        x_all_train, y_all_train, val_count, seed, "validation"
    )
    if image_size is not None and image_size != CIFAR10_IMAGE_SIZE:
        x_train = resize_images(x_train, image_size)
        x_val = resize_images(x_val, image_size)
        x_test = resize_images(x_test, image_size)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test)
