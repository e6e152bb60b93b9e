"""Bad input: one line naming the value, exit status 2, nothing written, Ray not started."""

import subprocess
import sys

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
    ("space: {batch_size: {choice: [1, 64]}}", "invalid space.batch_size 1; accepted: an integer >= 2"),
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
