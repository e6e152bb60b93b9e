"""Study configuration: a preset or YAML study file, CLI overrides, validation.

Everything is checked here, before Ray starts and before anything is written,
and every problem is reported as one `ConfigError` line that names the value
and what is accepted.
"""

import dataclasses
import datetime
import math
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from study.space import SpaceError, domain_values, validate_domain
from trainables.settings import DEPTHS, OPTIMIZERS, TrialSettings

PRESETS = ("quick", "cifar10")
# Upper bounds that catch typos (an extra zero or three) before they reach Ray,
# TensorFlow or Arrow. Each is far beyond what a real study uses.
MAX_EPOCHS = 100_000
MAX_TRIALS = 100_000
MAX_BATCH_SIZE = 1 << 20
MAX_IMAGE_SIZE = 1024
MAX_DIM = 1 << 16
MAX_FAILURES = 1000
MAX_SEED = 2**32 - 1
DATASETS = ("digits", "cifar10")
CONFIG_FILE = "study.yaml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TRIAL_KEYS = tuple(field.name for field in dataclasses.fields(TrialSettings))
# Trial settings the study fills itself from its own keys.
STUDY_OWNED_KEYS = ("dataset", "max_epochs", "seed")
INTEGER_KEYS = ("depth", "batch_size", "projection_dim", "knn_k", "eval_batch_size")


class _StudyLoader(yaml.SafeLoader):
    """Safe YAML loader that reads 1e-6 (no dot) as a float, as YAML 1.2 does, and rejects repeated keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice; keep one of them", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text):
    """Parse study YAML with the safe loader, reading 1e-6 as a number."""
    return yaml.load(text, Loader=_StudyLoader)


class ConfigError(ValueError):
    """Invalid study input; the message is one line with the value and the fix."""


class StudyConfig(BaseModel):
    """A validated study: what to sweep, how to schedule it and where to run it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Optional[str] = None
    dataset: str = "digits"
    data_dir: Optional[str] = None
    image_size: Optional[int] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    storage_path: str = "studies"
    num_samples: int = 1
    max_epochs: int = 10
    grace_period: int = 1
    reduction_factor: float = 3.0
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent_trials: Optional[int] = None
    max_failures: int = 2
    address: Optional[str] = None
    seed: int = 0
    space: dict[str, Any] = {}
    trial: dict[str, Any] = {}

    @property
    def study_dir(self) -> Path:
        return Path(self.storage_path).expanduser().resolve() / self.name

    def trial_settings(self) -> dict:
        """Fixed trial settings: defaults, then the file's `trial` keys, then study-owned keys."""
        fixed = TrialSettings().as_dict()
        fixed.update(self.trial)
        fixed.update(dataset=self.dataset, max_epochs=self.max_epochs, seed=self.seed)
        return fixed


def load_study_config(preset=None, config_file=None, overrides=None, now=None):
    """Read a preset or study file, apply CLI overrides and validate the result.

    Args:
        preset: name of a bundled preset; `quick` when neither source is given.
        config_file: path of a YAML study file with the same keys as a preset.
        overrides: dict of CLI values; None values are ignored.
        now: datetime used for the default study name (for tests).

    Raises:
        ConfigError: on any invalid input, before anything is written.
    """
    if preset is not None and config_file is not None:
        raise ConfigError("give either --preset or --config, not both")
    if config_file is not None:
        raw, source = _read_yaml_file(config_file), Path(config_file).stem
    else:
        source = "quick" if preset is None else preset
        raw = read_preset(source)
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    raw.update(overrides)
    # A shorter --max-epochs moves the first ASHA rung down with it.
    grace = raw.get("grace_period")
    if "max_epochs" in overrides and _is_int(grace) and _is_int(raw["max_epochs"]):
        raw["grace_period"] = max(1, min(grace, raw["max_epochs"]))
    if not raw.get("name"):
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", source).strip("._-") or "study"
        raw["name"] = f"{stem}-{stamp}"
    return validate(raw)


def read_preset(name):
    """Return the raw dict of a bundled preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; accepted presets: {', '.join(PRESETS)}")
    text = resources.files("study.presets").joinpath(f"{name}.yaml").read_text()
    return load_yaml(text)


def validate(raw, new_study=True):
    """Turn a raw dict into a `StudyConfig`, or raise a one-line `ConfigError`.

    A new study must not reuse an existing study folder.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"a study file must be a YAML mapping, received {type(raw).__name__}")
    try:
        config = StudyConfig(**raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            accepted = ", ".join(StudyConfig.model_fields)
            raise ConfigError(f"unknown key {where!r} in the study config; accepted keys: {accepted}") from None
        raise ConfigError(
            f"invalid {where}: {first['msg']} (received {first.get('input')!r})"
        ) from None
    _check_study_values(config)
    _check_trial_values(config)
    if new_study and config.study_dir.exists():
        raise ConfigError(
            f"study folder {str(config.study_dir)!r} already exists; choose another --name, "
            f"or continue it with: simclr-study resume {config.study_dir}"
        )
    return config


def resumable_config(study_dir):
    """Read and validate the config a study folder was started with."""
    path = Path(study_dir).expanduser()
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise ConfigError(
            f"{str(path)!r} is not a study folder: {CONFIG_FILE} not found; "
            "pass a folder that simclr-study run created"
        )
    raw = _read_yaml_file(config_file)
    # The folder may have moved since the study started.
    raw.update(storage_path=str(path.resolve().parent), name=path.resolve().name)
    return validate(raw, new_study=False)


def _read_yaml_file(path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file {str(path)!r} not found; pass an existing YAML file to --config")
    try:
        raw = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"study file {str(path)!r} is not valid YAML: {reason}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"study file {str(path)!r} must hold a YAML mapping of study keys")
    return raw


def _check_study_values(config):
    _require(NAME_PATTERN.match(config.name or ""), "name", config.name,
             "letters, digits, '.', '_' or '-', starting with a letter or digit")
    _require(config.dataset in DATASETS, "dataset", config.dataset, "one of " + ", ".join(DATASETS))
    if config.data_dir is not None and not Path(config.data_dir).expanduser().is_dir():
        raise ConfigError(
            f"--data-dir {config.data_dir!r} does not exist or is not a folder; "
            "pass the folder that holds cifar-10-batches-py/ or cifar-10-python.tar.gz"
        )
    _require(config.image_size is None or 8 <= config.image_size <= MAX_IMAGE_SIZE, "image_size",
             config.image_size, f"an integer from 8 to {MAX_IMAGE_SIZE}")

    _require(0 < config.val_fraction < 1, "val_fraction", config.val_fraction, "a number in (0, 1)")
    _require(0 < config.test_fraction < 1, "test_fraction", config.test_fraction, "a number in (0, 1)")
    _require(config.val_fraction + config.test_fraction < 1, "val_fraction + test_fraction",
             config.val_fraction + config.test_fraction, "a sum below 1")

    _require(1 <= config.num_samples <= MAX_TRIALS, "num_samples", config.num_samples,
             f"an integer from 1 to {MAX_TRIALS}")
    _require(1 <= config.max_epochs <= MAX_EPOCHS, "max_epochs", config.max_epochs,
             f"an integer from 1 to {MAX_EPOCHS}")
    _require(1 <= config.grace_period <= config.max_epochs, "grace_period", config.grace_period,
             f"an integer from 1 to max_epochs ({config.max_epochs})")
    _require(1 < config.reduction_factor <= 100, "reduction_factor", config.reduction_factor,
             "a number above 1 and at most 100")

    _require(0 < config.cpus_per_trial <= 4096, "cpus_per_trial", config.cpus_per_trial,
             "a number above 0 and at most 4096")
    _require(0 <= config.gpus_per_trial <= 1024, "gpus_per_trial", config.gpus_per_trial,
             "a number from 0 to 1024")
    _require(config.max_concurrent_trials is None or config.max_concurrent_trials >= 1,
             "max_concurrent_trials", config.max_concurrent_trials, "an integer >= 1")
    _require(0 <= config.max_failures <= MAX_FAILURES, "max_failures", config.max_failures,
             f"an integer from 0 to {MAX_FAILURES}")
    _require(0 <= config.seed <= MAX_SEED, "seed", config.seed, f"an integer from 0 to {MAX_SEED}")
    _check_storage_path(config.storage_path)


def _check_storage_path(storage_path):
    """The storage path must be a folder, or creatable under a writable existing folder."""
    path = Path(storage_path).expanduser().resolve()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--storage-path {storage_path!r} is not a folder: {str(existing)!r} is a file")
    # os.access returns True for root even on a read-only mount, so try a real write.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError:
        raise ConfigError(
            f"--storage-path {storage_path!r} is not writable; choose a folder you can write to"
        ) from None


def _check_trial_values(config):
    for key in config.trial:
        if key not in TRIAL_KEYS or key in STUDY_OWNED_KEYS:
            raise ConfigError(
                f"unknown key 'trial.{key}' in the study config; accepted keys: "
                + ", ".join(k for k in TRIAL_KEYS if k not in STUDY_OWNED_KEYS)
            )
        check_trial_value(key, config.trial[key], f"trial.{key}")
    for key, spec in config.space.items():
        if key not in TRIAL_KEYS or key in STUDY_OWNED_KEYS:
            raise ConfigError(
                f"unknown key 'space.{key}' in the study config; accepted keys: "
                + ", ".join(k for k in TRIAL_KEYS if k not in STUDY_OWNED_KEYS)
            )
        try:
            validate_domain(key, spec)
        except SpaceError as error:
            raise ConfigError(str(error)) from None
        if key in INTEGER_KEYS and isinstance(spec, dict) and next(iter(spec)) in ("uniform", "loguniform"):
            raise ConfigError(f"invalid space.{key} {spec!r}; {key} takes integers, so use grid or choice")
        for value in domain_values(spec):
            check_trial_value(key, value, f"space.{key}")


def check_trial_value(key, value, where):
    """Raise `ConfigError` when `value` is not accepted for trial setting `key`."""
    rule = _TRIAL_RULES.get(key)
    if rule is None:
        return
    accepted, test = rule
    if not test(value):
        raise ConfigError(f"invalid {where} {value!r}; accepted: {accepted}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_TRIAL_RULES = {
    "depth": (", ".join(str(d) for d in DEPTHS), lambda v: _is_int(v) and v in DEPTHS),
    "optimizer": (", ".join(OPTIMIZERS), lambda v: v in OPTIMIZERS),
    "width": ("a number above 0 and at most 16, e.g. 1.0 or 0.125", lambda v: _is_number(v) and 0 < v <= 16),
    "batch_size": (f"an integer from 2 to {MAX_BATCH_SIZE}", lambda v: _is_int(v) and 2 <= v <= MAX_BATCH_SIZE),
    "temperature": ("a number > 0, e.g. 0.1 or 0.5", lambda v: _is_number(v) and v > 0),
    "learning_rate": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "lr_scaling": ("linear, sqrt, none", lambda v: v in ("linear", "sqrt", "none")),
    "momentum": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "weight_decay": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
    "warmup_epochs": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
    "projection_dim": (f"an integer from 1 to {MAX_DIM}", lambda v: _is_int(v) and 1 <= v <= MAX_DIM),
    "crop_min_area": ("a number in (0, 1]", lambda v: _is_number(v) and 0 < v <= 1),
    "color_strength": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
    "knn_k": (f"an integer from 1 to {MAX_DIM}", lambda v: _is_int(v) and 1 <= v <= MAX_DIM),
    "knn_temperature": ("a number > 0, e.g. 0.1", lambda v: _is_number(v) and v > 0),
    "probe_c": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "eval_batch_size": (f"an integer from 1 to {MAX_BATCH_SIZE}", lambda v: _is_int(v) and 1 <= v <= MAX_BATCH_SIZE),
    "blur": ("true or false", lambda v: isinstance(v, bool)),
    "xla": ("true or false", lambda v: isinstance(v, bool)),
    "small_stem": ("true, false or null (automatic)", lambda v: v is None or isinstance(v, bool)),
    "mixed_precision": ("true, false or null (on with a GPU)", lambda v: v is None or isinstance(v, bool)),
}


def _require(condition, key, value, accepted):
    if not condition:
        raise ConfigError(f"invalid {key} {value!r}; accepted: {accepted}")



def check_local_resources(config):
    """Reject a local study whose trials need more CPUs or GPUs than this machine has.

    Ray would otherwise keep such trials pending forever. A study that joins a
    cluster (`address`) is not checked, since an autoscaler may add nodes.
    """
    cpus = os.cpu_count() or 1
    if config.cpus_per_trial > cpus:
        raise ConfigError(
            f"invalid cpus_per_trial {config.cpus_per_trial}: this machine has {cpus} CPUs; "
            f"lower --cpus-per-trial or join a cluster with --address"
        )
    gpus = count_local_gpus()
    if config.gpus_per_trial > gpus:
        raise ConfigError(
            f"invalid gpus_per_trial {config.gpus_per_trial}: this machine has {gpus} GPUs; "
            f"pass --gpus-per-trial 0 or join a GPU cluster with --address"
        )


def count_local_gpus():
    """Count the NVIDIA GPUs this process may use, without loading TensorFlow."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())
