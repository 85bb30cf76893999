"""The command line and Table 6's report."""

import re

import pytest
from experiments_helpers import TINY_SETS, fake_cifar_env, single_thread, tiny_config

from course_utils.experiments import cli, report, runner
from course_utils.experiments.config import SCALES, paper_config


@pytest.fixture(autouse=True)
def one_thread():
    yield from single_thread()


def test_help_documents_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "grid", "status", "table", "estimate", "torchrun"):
        assert command in out
    with pytest.raises(SystemExit):
        cli.main(["grid", "--help"])
    out = capsys.readouterr().out
    assert "--shard I/N" in out and "table6" in out and "figure6" in out and "shortcuts" in out and "degradation" in out


@pytest.mark.parametrize("config", [
    paper_config(20), paper_config(110, plain=True, seed=3), paper_config(32, shortcut="C", scale=SCALES["standard"]),
    tiny_config(), tiny_config(**{"recipe.bn_batch": 8, "recipe.warmup_lr": 0.02, "scale.width": 0.3}),
])
def test_command_for_a_configuration_builds_it(config):
    args = cli.parser().parse_args(cli.command_for(config))
    assert cli._configs(args) == [config]


def test_bad_input_gets_a_message(capsys):
    assert cli.main(["run", "--depth", "21"]) == 2
    assert "6n+2" in capsys.readouterr().err
    assert cli.main(["grid", "table6", "--shard", "3/2"]) == 2
    assert "between 1 and n" in capsys.readouterr().err
    assert cli.main(["run", "--set", "recipe.speed=3"]) == 2
    assert "unknown field 'recipe.speed'" in capsys.readouterr().err


def test_status_and_table(tmp_path, monkeypatch, capsys):
    fake_cifar_env(tmp_path, monkeypatch)
    runs = str(tmp_path / "runs")
    args = ["--scale", "smoke", *TINY_SETS, "--set", "arch.depth=8", "--runs", runs]
    assert cli.main(["status", "shortcuts", *args]) == 0
    assert capsys.readouterr().out.count("not started") == 3
    runner.run(tiny_config(), runs, progress=False)  # option A of the shortcuts grid at these settings
    capsys.readouterr()
    assert cli.main(["status", "shortcuts", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("not started") == 2 and "done: resnet8 seed 0: test error" in out
    assert cli.main(["table", "--runs", runs]) == 0
    out = capsys.readouterr().out
    assert "ResNet-20    0.27M   8.75%" in out and "[1]" not in out  # ResNet-8 is no network of Table 6
    assert cli.main(["table", "--runs", str(tmp_path / "empty")]) == 1


def _result(depth, seed, error, seconds=60.0, scale=SCALES["standard"]):
    config = paper_config(depth, scale=scale, seed=seed)
    return {"run_config": config, "config": config.to_dict(), "test_error": error, "seconds": seconds,
            "hardware": {"device": "CPU test", "processes": 1}}


def test_table6_statistics_by_hand():
    results = [_result(20, 0, 0.30), _result(20, 1, 0.26), _result(20, 2, 0.31), _result(44, 0, 0.25),
               _result(110, 0, 0.0700, scale=SCALES["paper"])]
    rows, settings = report.table6(results)
    assert [r["depth"] for r in rows] == [20, 32, 44, 56, 110, 1202]  # the paper's rows, measured or not
    standard = next(key for key, name, _ in settings if name == "standard")
    paper = next(key for key, name, _ in settings if name == "paper")
    row20 = rows[0][standard]
    assert row20["best"] == pytest.approx(26.0) and row20["mean"] == pytest.approx(29.0)
    # sample standard deviation of 30, 26, 31: sqrt(((1)^2 + (3)^2 + (2)^2) / 2) = sqrt(7)
    assert row20["std"] == pytest.approx(7 ** 0.5) and row20["seeds"] == 3
    assert rows[2][standard]["best"] == pytest.approx(25.0) and rows[2][standard]["std"] is None
    assert rows[1][standard] is None and rows[4][paper]["best"] == pytest.approx(7.0)
    assert rows[4]["paper"] == 6.43 and "mean 6.61" in rows[4]["paper_note"]
    text = report.format_table6(rows, settings)
    table = text.splitlines()[:1 + len(rows)]
    assert len({len(line) for line in table}) == 1, "header and rows line up"
    assert "7.93%" in table[-1] and "0.25M" not in text
    for line in table[1:]:  # cells stay apart however wide they are (not "8.75%57.76% (...)")
        assert not re.search(r"%\S", line), line
    assert "26.00% (29.00+/-2.65, 3)" in text and "width 0.5 (8, 16, 32 filters), 1,280 iterations" in text
