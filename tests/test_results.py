import json

from course_utils import results


def test_record_prints_stores_and_loads(tmp_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    results.record("06", "lenet_acc", 0.9012345, params=61706)
    results.record("06", "other", 3)
    results.record("07", "alexnet_acc", 0.91)
    out = capsys.readouterr().out
    assert "Key result: lenet_acc = 0.9012 (params=61706)" in out
    stored = results.load("06")
    assert stored["lenet_acc"]["value"] == 0.9012345
    assert stored["lenet_acc"]["params"] == 61706 and stored["lenet_acc"]["profile"] == "smoke"
    assert set(results.load()) == {"06", "07"}
    assert json.loads((results.results_dir() / "07.json").read_text())["alexnet_acc"]["value"] == 0.91
    assert results.load("99") == {}


def test_profiles_keep_separate_results(tmp_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    results.record("06", "lenet_acc", 0.905)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    results.record("06", "lenet_acc", 0.6)  # a smoke run must not overwrite the standard figure
    assert results.load("06")["lenet_acc"]["value"] == 0.6
    assert results.load("06", profile_name="standard")["lenet_acc"]["value"] == 0.905
    assert results.results_dir().name == "smoke" and results.results_dir("full").name == "full"
