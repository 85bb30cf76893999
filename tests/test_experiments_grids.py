"""Named grids, shards (balanced, disjoint, complete; 2 shards give the files
of 1), and time estimates."""

import pytest
from experiments_helpers import TINY_SETS, fake_cifar_env, single_thread

from course_utils.experiments import cli, grids, store
from course_utils.experiments.config import SCALES, Scale, run_id


@pytest.fixture(autouse=True)
def one_thread():
    yield from single_thread()


def _names(configs):
    return sorted((c.arch.name, c.seed) for c in configs)


def test_table6_grid_is_the_papers():
    configs = grids.grid("table6")
    assert _names(configs) == sorted([(f"resnet{d}", 0) for d in (20, 32, 44, 56)]
                                     + [("resnet110", s) for s in range(5)])
    assert all(c.scale == Scale() and c.iterations == 64_000 for c in configs)
    assert all((c.recipe.warmup_lr == 0.01) == (c.arch.depth == 110) for c in configs)


def test_figure6_shortcuts_and_paper_grids():
    figure6 = grids.grid("figure6", SCALES["standard"])
    assert _names(figure6) == sorted([(f"{k}{d}", 0) for k in ("plain", "resnet") for d in (20, 32, 44, 56)]
                                     + [("resnet110", 0)])
    assert _names(grids.grid("shortcuts")) == [("resnet20", 0), ("resnet20-B", 0), ("resnet20-C", 0)]
    degradation = grids.grid("degradation", SCALES["standard"], seeds=(0, 1, 2))
    assert _names(degradation) == sorted((f"{k}{d}", s) for k in ("plain", "resnet") for d in (8, 32)
                                         for s in (0, 1, 2))
    deep = [c for c in degradation if c.arch.depth == 32]  # shared with Figure 6's runs at the same scale
    assert {run_id(c) for c in deep} <= {run_id(c) for c in grids.grid("figure6", SCALES["standard"], seeds=(0, 1, 2))}
    paper = grids.grid("paper")
    ids = [run_id(c) for c in paper]
    assert len(ids) == len(set(ids)) == 9 + 4 + 2  # Table 6, the plain nets, options B and C: shared runs once
    assert _names(grids.grid("shortcuts", seeds=(1, 2))) == sorted(
        [(n, s) for n in ("resnet20", "resnet20-B", "resnet20-C") for s in (1, 2)])
    with pytest.raises(ValueError, match="unknown grid"):
        grids.grid("table7")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_shards_are_disjoint_complete_and_balanced(count):
    configs = grids.grid("paper")
    parts = [grids.shard(configs, f"{i}/{count}") for i in range(1, count + 1)]
    ids = [run_id(c) for part in parts for c in part]
    assert sorted(ids) == sorted(run_id(c) for c in configs) and len(ids) == len(set(ids))
    loads = [sum(grids.cost(c) for c in part) for part in parts]
    assert max(loads) - min(loads) <= max(grids.cost(c) for c in configs)  # greedy balance bound
    assert parts == [grids.shard(configs, f"{i}/{count}") for i in range(1, count + 1)]  # every process agrees


@pytest.mark.parametrize("spec", ["0/4", "5/4", "2", "a/b", "2/0"])
def test_bad_shards(spec):
    with pytest.raises(ValueError, match="shard"):
        grids.shard(grids.grid("table6"), spec)


def test_estimate_interpolates_in_depth():
    configs = grids.grid("figure6", SCALES["standard"])
    measured = []

    def fake_step(config):  # 1 ms per layer
        measured.append(config.arch.depth)
        return 0.001 * config.arch.depth

    estimates = grids.estimate_seconds(configs, fake_step)
    assert sorted(measured) == [20, 110]  # only the shallowest and the deepest are measured
    for c in configs:
        step = 0.001 * c.arch.depth
        # 20 points of 500 + 500 images, final 5,000 + 5,000, 500 response images: a third of a step per image
        images = 20 * 1_000 + 10_000 + 500
        assert grids.eval_images(c) == images
        assert estimates[run_id(c)] == pytest.approx(1280 * step + images * step / 128 / 3)


def test_two_shards_give_the_files_of_one(tmp_path, monkeypatch):
    fake_cifar_env(tmp_path, monkeypatch)
    args = ["grid", "shortcuts", "--scale", "smoke", "--no-progress", *TINY_SETS, "--set", "arch.depth=8"]
    assert cli.main(args + ["--runs", str(tmp_path / "whole")]) == 0
    assert cli.main(args + ["--runs", str(tmp_path / "first"), "--shard", "1/2"]) == 0
    assert cli.main(args + ["--runs", str(tmp_path / "second"), "--shard", "2/2"]) == 0
    whole = {p.name for p in (tmp_path / "whole").glob("*.json")}
    first = {p.name for p in (tmp_path / "first").glob("*.json")}
    second = {p.name for p in (tmp_path / "second").glob("*.json")}
    assert len(whole) == 3 and first and second and not first & second and first | second == whole
    for name in whole:
        shard = tmp_path / ("first" if name in first else "second") / name
        assert store.comparable(store.read_result(shard)) == store.comparable(
            store.read_result(tmp_path / "whole" / name)), name
    merged = store.load_results(tmp_path / "first", tmp_path / "second")
    assert sorted(r["run_id"] + ".json" for r in merged) == sorted(whole)
