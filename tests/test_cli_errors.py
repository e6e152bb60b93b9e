"""Bad input: one line naming the value, exit status 2, nothing written, Ray not started."""

import ctypes
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import ray

from study.cli import EXIT_INVALID, main

BAD_RUNS = [
    (["--preset", "huge"], "unknown preset 'huge'; accepted presets: quick, cifar10"),
    (["--dataset", "mnist"], "invalid dataset 'mnist'; accepted: one of digits, cifar10"),
    (["--dataset", "cifar10", "--data-dir", "{tmp}/nowhere"], "does not exist"),
    (["--max-epochs", "0"], "invalid max_epochs 0"),
    (["--num-samples", "0"], "invalid num_samples 0"),
    (["--cpus-per-trial", "0"], "invalid cpus_per_trial 0.0"),
    (["--gpus-per-trial", "-1"], "invalid gpus_per_trial -1.0"),
    (["--name", "../escape"], "invalid name '../escape'"),
    (["--seed", "-3"], "invalid seed -3"),
]

BAD_FILES = [
    ("space: {depth: {grid: [18, 20]}}", "invalid space.depth 20; accepted: 18, 34, 50, 101, 152"),
    ("space: {temperature: {grid: [0.5, 0.0]}}", "invalid space.temperature 0.0"),
    ("space: {temperature: {uniform: [-0.1, 0.5]}}", "invalid space.temperature -0.1"),
    ("space: {batch_size: {choice: [1, 64]}}", "invalid space.batch_size 1; accepted: an integer from 2 to"),
    ("space: {learning_rate: {loguniform: [0.0, 1.0]}}", "low bound must be > 0"),
    ("space: {learning_rate: -1.0}", "invalid space.learning_rate -1.0"),
    ("space: {batch_size: {uniform: [2, 64]}}", "batch_size takes integers"),
    ("space: {depth: {sweep: [18]}}", "invalid space.depth"),
    ("space: {colour: {grid: [1]}}", "unknown key 'space.colour'"),
    ("trial: {optimizer: rmsprop}", "invalid trial.optimizer 'rmsprop'; accepted: lars, sgd, adam"),
    ("trial: {depth: 19}", "invalid trial.depth 19"),
    ("trial: {lr_scale: 2}", "unknown key 'trial.lr_scale'"),
    ("epochs: 5", "unknown key 'epochs' in the study config"),
    ("max_epochs: ten", "invalid max_epochs"),
    ("max_epochs: 5\ngrace_period: 9", "invalid grace_period 9"),
    ("- just\n- a list", "must hold a YAML mapping"),
    ("space: {depth: [18", "is not valid YAML"),
    ("dataset: digits\ndataset: cifar10", "key 'dataset' appears twice; keep one of them"),
    ("trial: {width: 0.5, width: 0.25}", "key 'width' appears twice"),
    ("space: {depth: {grid: [18, 34, 18]}}", "invalid space.depth.grid [18, 34, 18]; a repeated value"),
]


def _run_args(tmp_path, args):
    storage = tmp_path / "studies"
    return ["run", "--storage-path", str(storage)] + [a.replace("{tmp}", str(tmp_path)) for a in args]


def _assert_rejected(tmp_path, capsys, argv, expected):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == EXIT_INVALID
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "studies").exists()
    assert not ray.is_initialized()


@pytest.mark.parametrize("args,expected", BAD_RUNS)
def test_bad_cli_value_rejected(tmp_path, capsys, args, expected):
    _assert_rejected(tmp_path, capsys, _run_args(tmp_path, args), expected)


@pytest.mark.parametrize("text,expected", BAD_FILES)
def test_bad_study_file_rejected(tmp_path, capsys, text, expected):
    study_file = tmp_path / "study.yaml"
    study_file.write_text(text)
    _assert_rejected(tmp_path, capsys, _run_args(tmp_path, ["--config", str(study_file)]), expected)


def test_missing_study_file_rejected(tmp_path, capsys):
    argv = _run_args(tmp_path, ["--config", str(tmp_path / "absent.yaml")])
    _assert_rejected(tmp_path, capsys, argv, "absent.yaml' not found")


def test_storage_path_that_is_a_file_rejected(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    status = main(["run", "--storage-path", str(blocker / "studies")])
    err = capsys.readouterr().err
    assert status == EXIT_INVALID
    assert "is not a folder" in err
    assert blocker.read_text() == "not a folder"


def test_existing_study_name_rejected(tmp_path, capsys):
    (tmp_path / "studies" / "taken").mkdir(parents=True)
    status = main(["run", "--storage-path", str(tmp_path / "studies"), "--name", "taken"])
    err = capsys.readouterr().err
    assert status == EXIT_INVALID
    assert "already exists" in err
    assert list((tmp_path / "studies" / "taken").iterdir()) == []


def test_resume_of_non_study_rejected(tmp_path, capsys):
    status = main(["resume", str(tmp_path)])
    assert status == EXIT_INVALID
    assert "is not a study folder" in capsys.readouterr().err


def test_report_of_non_study_rejected(tmp_path, capsys):
    status = main(["report", str(tmp_path)])
    assert status == EXIT_INVALID
    assert "summary.parquet not found" in capsys.readouterr().err


def test_console_script_exit_status(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "study.cli", "run", "--dataset", "imagenet",
         "--storage-path", str(tmp_path / "studies")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == EXIT_INVALID
    assert completed.stderr.strip() == (
        "simclr-study: error: invalid dataset 'imagenet'; accepted: one of digits, cifar10"
    )
    assert not (tmp_path / "studies").exists()


# ---------------------------------------------------------------------------
# Bad files and folders: each case prepares its input under tmp_path and
# returns the command line.
# ---------------------------------------------------------------------------


def _cifar_batches(tmp_path, corrupt=None, only=None):
    """A cifar-10-batches-py folder of tiny valid batches; `corrupt` names one to cut in half."""
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
    for name in only or names:
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    if corrupt:
        whole = (folder / corrupt).read_bytes()
        (folder / corrupt).write_bytes(whole[: len(whole) // 2])
    return folder.parent


class _RunsShellCommand:
    """Pickles to a call of os.system, as a tampered batch file would."""

    def __reduce__(self):
        return (os.system, ("echo tampered",))


def _tampered_batches(tmp_path):
    data = _cifar_batches(tmp_path)
    (data / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(_RunsShellCommand()))
    return data


def _cifar_run(data_dir):
    return ["run", "--dataset", "cifar10", "--data-dir", str(data_dir)]


def _study_folder(tmp_path, study_yaml):
    folder = tmp_path / "old-study"
    folder.mkdir()
    (folder / "study.yaml").write_text(study_yaml)
    return folder


def _empty_data_dir(tmp_path):
    (tmp_path / "data").mkdir()
    return _cifar_run(tmp_path / "data")


def _data_dir_is_file(tmp_path):
    (tmp_path / "data.tar").write_bytes(b"not a folder")
    return _cifar_run(tmp_path / "data.tar")


def _truncated_archive(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 cut short")
    return _cifar_run(tmp_path / "data")


def _storage_path_is_file(tmp_path):
    (tmp_path / "results").write_text("a file")
    return ["run", "--storage-path", str(tmp_path / "results")]


def _corrupt_summary(tmp_path):
    folder = _study_folder(tmp_path, "name: old-study\n")
    (folder / "summary.parquet").write_bytes(b"PAR1 cut short")
    return ["report", str(folder)]


BAD_INPUTS = [
    ("empty data dir", _empty_data_dir, "has no CIFAR-10 files"),
    ("data dir is a file", _data_dir_is_file, "does not exist or is not a folder"),
    ("corrupt batch file",
     lambda tmp: _cifar_run(_cifar_batches(tmp, corrupt="data_batch_3")), "data_batch_3: not a readable pickle"),
    ("missing batch files",
     lambda tmp: _cifar_run(_cifar_batches(tmp, only=["data_batch_1"])), "missing batch file(s) data_batch_2"),
    ("tampered batch file",
     lambda tmp: _cifar_run(_tampered_batches(tmp)), "which a CIFAR-10 batch never contains"),
    ("truncated archive", _truncated_archive, "not a readable .tar.gz archive"),
    ("storage path is a file", _storage_path_is_file, "is not a folder"),
    ("resume of missing folder",
     lambda tmp: ["resume", str(tmp / "absent")], "is not a study folder: study.yaml not found"),
    ("resume of corrupt study.yaml",
     lambda tmp: ["resume", str(_study_folder(tmp, "max_epochs: [3\n"))], "is not valid YAML"),
    ("resume of study.yaml list",
     lambda tmp: ["resume", str(_study_folder(tmp, "- 1\n- 2\n"))], "must hold a YAML mapping"),
    ("resume of invalid study.yaml",
     lambda tmp: ["resume", str(_study_folder(tmp, "max_epochs: 0\n"))], "invalid max_epochs 0"),
    ("resume of study.yaml with unknown key",
     lambda tmp: ["resume", str(_study_folder(tmp, "epochs: 3\n"))], "unknown key 'epochs'"),
    ("report of corrupt summary", _corrupt_summary, "summary.parquet is not a readable Parquet file"),
]


def _files(folder):
    return sorted((str(path.relative_to(folder)), path.stat().st_size)
                  for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("case,prepare,expected", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_rejected(tmp_path, capsys, monkeypatch, case, prepare, expected):
    monkeypatch.chdir(tmp_path)
    argv = prepare(tmp_path)
    before = _files(tmp_path)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == EXIT_INVALID
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert _files(tmp_path) == before
    assert not (tmp_path / "studies").exists()
    assert not ray.is_initialized()


# Linux capability numbers (linux/capability.h) and the prctl that drops one
# from the bounding set, which a process started as root then lacks.
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _PR_CAPBSET_DROP = 1, 2, 24


def _drop_file_permission_override():
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_storage_path_not_writable_rejected(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    command = [sys.executable, "-m", "study.cli", "run", "--storage-path", str(locked / "studies")]
    # Root writes through file modes, so the CLI runs without that privilege.
    preexec = _drop_file_permission_override if os.geteuid() == 0 else None
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=preexec)
    except subprocess.SubprocessError as error:
        pytest.skip(f"could not start the CLI without the root file-permission override: {error}")
    finally:
        locked.chmod(0o700)
    assert completed.returncode == EXIT_INVALID, completed.stderr[-2000:]
    assert completed.stderr.strip().endswith("is not writable; choose a folder you can write to")
    assert len(completed.stderr.strip().splitlines()) == 1
    assert list(locked.iterdir()) == []


MORE_BAD_FILES = [
    ("trial: {batch_size: 100000000000000000000000}", "invalid trial.batch_size"),
    ("max_epochs: 100000000000000000000000000000", "invalid max_epochs"),
    ("image_size: 4096", "invalid image_size 4096"),
    ("cpus_per_trial: .inf", "invalid cpus_per_trial inf"),
    ("max_epochs: '3'", "invalid max_epochs"),
    ("space: {learning_rate: {loguniform: [0.1, x]}}", "give two numbers [low, high]"),
    ("space: {learning_rate: {uniform: [0.1, null]}}", "give two numbers [low, high]"),
    ("trial: {temperature: 0}", "invalid trial.temperature 0"),
    ("trial: {learning_rate: 0}", "invalid trial.learning_rate 0"),
]


@pytest.mark.parametrize("text,expected", MORE_BAD_FILES)
def test_out_of_range_study_file_rejected(tmp_path, capsys, text, expected):
    test_bad_study_file_rejected(tmp_path, capsys, text, expected)


def test_empty_preset_name_rejected(tmp_path, capsys):
    _assert_rejected(tmp_path, capsys, _run_args(tmp_path, ["--preset", ""]), "unknown preset ''")


def test_scientific_notation_without_dot_is_a_number():
    from study.config import load_yaml

    assert load_yaml("weight_decay: 1e-6") == {"weight_decay": 1e-6}
    assert load_yaml("lr: [1e-3, 2E+1]") == {"lr": [1e-3, 20.0]}


def test_short_max_epochs_moves_grace_period(tmp_path):
    from study.config import load_study_config

    config = load_study_config(None, None, {"max_epochs": 2, "storage_path": str(tmp_path)})
    assert config.grace_period == 2
    assert config.max_epochs == 2


def test_default_name_from_odd_file_name(tmp_path):
    from study.config import load_study_config

    study_file = tmp_path / "my study.yaml"
    study_file.write_text("max_epochs: 2\ngrace_period: 1\n")
    config = load_study_config(None, str(study_file), {"storage_path": str(tmp_path)})
    assert config.name.startswith("my-study-")


def test_accepted_values_match_the_builders():
    from trainables import optim, resnet, settings

    assert settings.DEPTHS == resnet.DEPTHS
    assert settings.OPTIMIZERS == optim.OPTIMIZERS
    assert settings.LR_SCALINGS == optim.LR_SCALINGS


def test_more_cpus_than_machine_rejected(tmp_path, capsys):
    _assert_rejected(tmp_path, capsys, _run_args(tmp_path, ["--cpus-per-trial", "64"]),
                     "this machine has")


def test_gpus_on_machine_without_gpus_rejected(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    _assert_rejected(tmp_path, capsys, _run_args(tmp_path, ["--gpus-per-trial", "1"]),
                     "invalid gpus_per_trial 1.0: this machine has 0 GPUs")


def test_report_of_study_with_no_ended_trial(tmp_path, capsys):
    study_dir = tmp_path / "started"
    study_dir.mkdir()
    (study_dir / "study.yaml").write_text("name: started\n")
    assert main(["report", str(study_dir)]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert f"no trial of {study_dir} has ended yet; continue it with: simclr-study resume {study_dir}" in err
    assert len(err.strip().splitlines()) == 1
