"""The `simclr-study` command line: run, resume and report studies.

Exit status: 0 when the study finished, 2 on invalid input (found before Ray
starts and before anything is written), 1 when the study could not finish or
some of its trials failed.
"""

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
# The shell's status for a process ended by SIGINT.
EXIT_INTERRUPTED = 130
TABLE_COLUMNS = ["trial_id", "status", "depth", "batch_size", "temperature", "learning_rate",
                 "epochs_completed", "knn_accuracy", "probe_accuracy", "baseline_probe_accuracy"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="simclr-study",
        description="Hyperparameter studies of SimCLR contrastive pretraining on Ray Tune.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start a new study")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--preset", help="bundled study: quick (CPU, minutes; default) or cifar10 (GPU)")
    source.add_argument("--config", help="YAML study file with the same keys as a preset")
    run.add_argument("--dataset", help="data set: digits or cifar10")
    run.add_argument("--data-dir", help="folder with cifar-10-batches-py/ or cifar-10-python.tar.gz")
    run.add_argument("--storage-path", help="folder that receives the study folder (default ./studies)")
    run.add_argument("--name", help="study name and folder name (default: preset name and time)")
    run.add_argument("--num-samples", type=int, help="samples of the search space; grids repeat per sample")
    run.add_argument("--max-epochs", type=int, help="pretraining epochs of a trial that ASHA never stops")
    run.add_argument("--cpus-per-trial", type=float, help="CPUs reserved for each trial")
    run.add_argument("--gpus-per-trial", type=float, help="GPUs reserved for each trial (fractions allowed)")
    run.add_argument("--address", help="address of a running Ray cluster to join, e.g. auto or HOST:6379")
    run.add_argument("--seed", type=int, help="seed of the data splits, the sampled search space and every trial")

    resume = commands.add_parser("resume", help="continue a study whose driver stopped")
    resume.add_argument("study_dir", help="folder of the study, e.g. studies/quick-20260101-120000")
    report = commands.add_parser("report", help="print the ranked table of a study")
    report.add_argument("study_dir", help="folder of the study")
    return parser


def main(argv=None):
    # Ray reads this when it is imported: it keeps usage statistics on this machine.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "resume": _resume, "report": _report}
    return handlers[args.command](args)


def _run(args):
    from study.config import ConfigError, check_local_resources, load_study_config

    overrides = {
        "dataset": args.dataset, "data_dir": args.data_dir, "storage_path": args.storage_path,
        "name": args.name, "num_samples": args.num_samples, "max_epochs": args.max_epochs,
        "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial,
        "address": args.address, "seed": args.seed,
    }
    try:
        config = load_study_config(args.preset, args.config, overrides)
        if config.address is None:
            check_local_resources(config)
        data = _load_data(config)
    except ConfigError as error:
        return _invalid(error)

    from study import runner

    return _execute(runner.start_study, config, data, "writing to")


def _resume(args):
    from study.config import ConfigError, resumable_config

    try:
        config = resumable_config(args.study_dir)
        data = _load_data(config)
    except ConfigError as error:
        return _invalid(error)

    from study import runner

    return _execute(runner.resume_study, config, data, "resuming in")


def _execute(study_function, config, data, action):
    """Run `study_function(config, data)`, then print the ranked table or the resume hint."""
    print(f"study {config.name}: {action} {config.study_dir}", flush=True)
    try:
        num_trials = study_function(config, data)
    except KeyboardInterrupt:
        return _interrupted(config.study_dir)
    return _finish(config.study_dir, num_trials)


def _report(args):
    from study.config import CONFIG_FILE
    from study.results import SUMMARY_FILE, ranked

    study_dir = Path(args.study_dir)
    if (study_dir / CONFIG_FILE).is_file() and not (study_dir / SUMMARY_FILE).exists():
        return _invalid(f"no trial of {study_dir} has ended yet; continue it with: simclr-study resume {study_dir}")
    try:
        summary = _read_summary(args.study_dir)
    except (FileNotFoundError, ValueError) as error:
        return _invalid(error)
    print(ranked(summary)[TABLE_COLUMNS].to_string(index=False, float_format="%.4f"))
    return EXIT_OK


def _read_summary(study_dir):
    """Read summary.parquet; raises FileNotFoundError, or ValueError when it is not Parquet."""
    import pyarrow as pa

    from study.results import SUMMARY_FILE, read_summary

    try:
        return read_summary(study_dir)
    except (pa.ArrowException, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        path = Path(study_dir) / SUMMARY_FILE
        raise ValueError(f"{path} is not a readable Parquet file ({_first_line(error)})") from None


def _first_line(error):
    """First line of an exception's message."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _load_data(config):
    """Load the data set before Ray starts, turning data errors into ConfigError."""
    from study.config import ConfigError
    from study.runner import load_data
    from trainables.data import DataError

    try:
        return load_data(config)
    except DataError as error:
        raise ConfigError(str(error)) from None


def _finish(study_dir, num_trials):
    """Print the ranked table; return 1 when a trial failed or did not finish, else 0."""
    from study.results import ranked

    try:
        summary = _read_summary(study_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"simclr-study: error: no results were written: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"\n{len(summary)} trials, ranked by linear-probe accuracy on the test split:")
    print(ranked(summary)[TABLE_COLUMNS].to_string(index=False, float_format="%.4f"))
    print(f"\nresults: {Path(study_dir) / 'summary.parquet'} and {Path(study_dir) / 'history.parquet'}")
    status = EXIT_OK
    failed = summary[summary["status"] == "failed"]
    for row in failed.itertuples():
        print(f"trial {row.trial_id} failed: {row.error}", file=sys.stderr)
        status = EXIT_FAILED
    unfinished = num_trials - len(summary)
    if unfinished > 0:
        print(f"{unfinished} of {num_trials} trials did not finish; continue them with: "
              f"simclr-study resume {study_dir}", file=sys.stderr)
        status = EXIT_FAILED
    return status


def _interrupted(study_dir):
    from study.results import SUMMARY_FILE

    summary = Path(study_dir) / SUMMARY_FILE
    ended = f"trials that ended are in {summary}" if summary.exists() else "no trial had ended yet"
    print(f"\nstudy interrupted: {ended}; continue the others with: simclr-study resume {study_dir}",
          file=sys.stderr)
    return EXIT_INTERRUPTED


def _invalid(error):
    print(f"simclr-study: error: {error}", file=sys.stderr)
    return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
