"""Run configurations: the paper's recipe, the schedule, run identity, validation."""

import dataclasses
import json

import pytest

from course_utils.experiments import config as C


def test_recipe_defaults_are_the_papers():
    # He et al. 2015, section 4.2, typed in from the paper
    r = C.Recipe()
    assert (r.lr, r.momentum, r.weight_decay, r.batch_size) == (0.1, 0.9, 1e-4, 128)
    assert (r.iterations, r.milestones, r.lr_decay) == (64_000, (32_000, 48_000), 0.1)
    assert (r.val_size, r.crop_padding, r.flip) == (5_000, 4, True)
    assert r.warmup_lr is None and r.norm_batch == 128
    assert C.Architecture() == C.Architecture(20, False, "A")


def test_only_110_and_deeper_warm_up():
    assert C.paper_config(110).recipe.warmup_lr == 0.01
    assert C.paper_config(1202).recipe.warmup_lr == 0.01
    assert all(C.paper_config(d).recipe.warmup_lr is None for d in (20, 32, 44, 56))
    assert C.paper_config(110).recipe.warmup_error == 0.8


@pytest.mark.parametrize("iteration,lr", [(0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01),
                                          (48_000, 0.001), (63_999, 0.001)])
def test_learning_rate_at_the_milestones(iteration, lr):
    assert C.paper_config(20).lr_at(iteration) == pytest.approx(lr, rel=1e-12)


def test_scaled_schedule_moves_the_milestones():
    config = C.paper_config(20, scale=C.Scale(iterations=640))
    assert config.iterations == 640 and config.milestones == (320, 480)
    assert [config.lr_at(i) for i in (319, 320, 479, 480)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
    assert config.epochs == pytest.approx(640 * 128 / 45_000)
    assert C.paper_config(20).epochs == pytest.approx(64_000 * 128 / 45_000)  # about 182 epochs


def test_warmup_rate():
    config = C.paper_config(110)
    assert config.lr_at(0, warming_up=True) == 0.01 and config.lr_at(0) == 0.1
    with pytest.raises(ValueError, match="no warm-up"):
        C.paper_config(20).lr_at(0, warming_up=True)


def _all_fields(config):
    for group in ("arch", "recipe", "scale"):
        for f in dataclasses.fields(getattr(config, group)):
            yield f"{group}.{f.name}", getattr(getattr(config, group), f.name)
    yield "seed", config.seed


CHANGED = {"arch.depth": 32, "arch.plain": True, "arch.shortcut": "B", "recipe.iterations": 60_000,
           "recipe.milestones": (30_000, 45_000), "recipe.lr": 0.05, "recipe.lr_decay": 0.2, "recipe.momentum": 0.8,
           "recipe.weight_decay": 5e-4, "recipe.batch_size": 256, "recipe.bn_batch": 64, "recipe.val_size": 0,
           "recipe.crop_padding": 2, "recipe.flip": False, "recipe.warmup_lr": 0.02, "recipe.warmup_error": 0.7,
           "recipe.warmup_window": 20, "scale.width": 0.5, "scale.iterations": 6_400, "scale.train_size": 1_000,
           "scale.eval_every": 100, "scale.eval_size": 500, "scale.final_eval_size": 2_000,
           "scale.response_images": 10, "seed": 1}


def test_every_field_changes_the_run_and_nothing_else_does():
    base = C.paper_config(20)
    fields = dict(_all_fields(base))
    assert set(CHANGED) == set(fields), "a field of the configuration is not covered by this test"
    ids = {C.run_id(base)}
    for key, value in CHANGED.items():
        changed = base.replace(**{key: value})
        assert dict(_all_fields(changed))[key] == value
        ids.add(C.run_id(changed))
    assert len(ids) == len(CHANGED) + 1, "two different configurations got the same run id"
    assert C.run_id(C.paper_config(20)) == C.run_id(base)  # equal configurations: the same run
    assert C.run_id(base).startswith("resnet20-s0-")
    assert C.run_id(base.replace(**{"arch.plain": True})).startswith("plain20-s0-")
    assert C.run_id(base.replace(**{"arch.shortcut": "C"})).startswith("resnet20-C-s0-")


def test_json_round_trip():
    config = C.paper_config(110, scale=C.SCALES["standard"], seed=3).replace(**{"recipe.bn_batch": 64})
    data = json.loads(json.dumps(config.to_dict()))
    assert C.RunConfig.from_dict(data) == config
    assert C.run_id(C.RunConfig.from_dict(data)) == C.run_id(config)
    with pytest.raises(ValueError, match="not a run configuration"):
        C.RunConfig.from_dict({"arch": {"depth": 20}, "recipe": {}, "scale": {}})
    with pytest.raises(ValueError, match="not a run configuration"):
        C.RunConfig.from_dict({**data, "arch": {**data["arch"], "colour": "red"}})


@pytest.mark.parametrize("make,message", [
    (lambda: C.Architecture(21), "6n\\+2"),
    (lambda: C.Architecture(20, shortcut="D"), "shortcut"),
    (lambda: C.Architecture(20.0), "6n\\+2"),
    (lambda: C.Recipe(bn_batch=48), "divide the batch size"),
    (lambda: C.Recipe(bn_batch=1), "at least 2"),
    (lambda: C.Recipe(milestones=(48_000, 32_000)), "increasing"),
    (lambda: C.Recipe(milestones=(32_000, 70_000)), "between 0 and iterations"),
    (lambda: C.Recipe(batch_size=0), "positive integer"),
    (lambda: C.Recipe(lr=-0.1), "lr"),
    (lambda: C.Recipe(warmup_error=1.5), "warmup_error"),
    (lambda: C.Scale(width=0), "width"),
    (lambda: C.Scale(iterations=0), "iterations"),
    (lambda: C.Scale(eval_every=0), "eval_every"),
    (lambda: C.paper_config(20, scale=C.Scale(iterations=1)), "too few"),
    (lambda: C.RunConfig(seed=-1), "seed"),
])
def test_bad_configurations_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_replace_and_parse_changes():
    config = C.paper_config(20)
    changed = config.replace(**C.parse_changes(["recipe.bn_batch=64", "scale.width=0.5", "arch.shortcut=B",
                                                "seed=2", "recipe.milestones=(10, 20)"]))
    assert (changed.recipe.bn_batch, changed.scale.width, changed.arch.shortcut, changed.seed) == (64, 0.5, "B", 2)
    assert changed.recipe.milestones == (10, 20) and config.recipe.bn_batch is None  # frozen original
    with pytest.raises(ValueError, match="recipe has"):
        config.replace(**{"recipe.learning_rate": 0.1})
    with pytest.raises(ValueError, match="groups are"):
        config.replace(**{"model.depth": 20})
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        C.parse_changes(["recipe.lr"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3


def test_scales():
    assert C.SCALES["paper"] == C.Scale()
    assert C.default_scale_name("full") == "paper" and C.default_scale_name("standard") == "standard"
    standard = C.paper_config(44, scale=C.SCALES["standard"])
    assert standard.milestones == (640, 960) and standard.scale.width == 0.5
    with pytest.raises(ValueError, match="unknown scale"):
        C.scale_named("huge")
