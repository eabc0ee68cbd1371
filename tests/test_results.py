import json

from fusionrs.results import environment_info, write_results


def test_results_file_records_command_seed_versions_and_machine(tmp_path):
    path = tmp_path / "sub" / "bench.json"
    write_results(path, {"images_per_s": 12.5}, command="python benchmarks/x.py --n 3", seed=7)
    payload = json.loads(path.read_text())
    assert payload["results"] == {"images_per_s": 12.5}
    assert payload["command"] == "python benchmarks/x.py --n 3" and payload["seed"] == 7
    env = payload["environment"]
    assert env["cpu_count"] >= 1 and env["python"].count(".") == 2
    assert {"torch", "numpy", "datasets", "fusionrs"} <= set(env["libraries"])
    assert isinstance(env["gpus"], list)


def test_environment_info_is_json_serialisable():
    json.dumps(environment_info())
