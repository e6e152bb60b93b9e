"""The cluster launcher config validates against Ray's own schema."""

import json
from pathlib import Path

import jsonschema
import ray
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cluster_config():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_matches_ray_schema():
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(_cluster_config(), schema)


def test_cluster_has_cpu_head_and_gpu_workers():
    config = _cluster_config()
    head = config["available_node_types"][config["head_node_type"]]
    workers = [
        node for name, node in config["available_node_types"].items() if name != config["head_node_type"]
    ]
    assert head["resources"] == {"CPU": 0}
    assert any(node["node_config"]["InstanceType"].startswith("g") for node in workers)
    assert config["docker"]["image"].endswith("-gpu")


def test_dashboard_listens_on_loopback():
    config = _cluster_config()
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in head_start
