"""The study driver hands trials to Ray without importing TensorFlow, which costs seconds of start-up."""

import subprocess
import sys

DRIVER = """
import sys
import ray
from study import runner
from study.config import read_preset, validate

raw = read_preset("quick")
raw.update(name="driver", storage_path=sys.argv[1], image_size=8)
config = validate(raw)
ray.init(num_cpus=1, include_dashboard=False)
try:
    runner._new_tuner(config, runner.load_data(config))
finally:
    ray.shutdown()
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_tuner_setup_imports_no_tensorflow(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split()[-2:] == ["False", "False"]
