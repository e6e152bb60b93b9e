"""Description of the machine and software versions that a benchmark ran on."""

import importlib.metadata
import os
import platform


def cpu_model():
    """Return the first "model name" of /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine():
    """Return one line with cores, CPU model, memory and the Python, TF, Keras and Ray versions."""
    versions = ", ".join(
        f"{name} {importlib.metadata.version(package)}"
        for name, package in (("TensorFlow", "tensorflow"), ("Keras", "keras"), ("Ray", "ray"))
    )
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {_memory_gib():.0f} GiB, "
        f"Python {platform.python_version()}, {versions}"
    )


def _memory_gib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def pin_to_cpus(count):
    """Restrict this process to its first `count` allowed CPUs; return those CPUs.

    Must run before TensorFlow starts, because tf.data and TensorFlow size their
    thread pools from the CPUs a process may use.
    """
    allowed = sorted(os.sched_getaffinity(0))
    pinned = set(allowed[:count])
    os.sched_setaffinity(0, pinned)
    return sorted(pinned)
