"""course_utils.data.splits: index splits against their definitions (a random order, class counts)."""

import pytest
import torch

from course_utils.data.splits import stratified_indices, validation_split


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_a_random_split_is_the_first_n_val_of_a_random_order():
    train, val = validation_split(100, 10, gen(3))
    order = torch.randperm(100, generator=gen(3))  # what the generator draws first
    assert torch.equal(val, order[:10].sort().values)
    assert torch.equal(train, order[10:].sort().values)
    kept, val_again = validation_split(100, 10, gen(3), n_train=30)
    assert torch.equal(val_again, val), "n_train must not change the validation part"
    assert torch.equal(kept, order[10:40].sort().values)


def test_a_stratified_split_balances_the_classes_and_partitions_the_set():
    labels = torch.arange(200) % 10
    train, val = validation_split(200, 43, gen(), stratify=labels)
    counts = labels[val].bincount(minlength=10)
    assert counts.sum() == 43 and counts.max() - counts.min() == 1
    assert sorted(torch.cat([train, val]).tolist()) == list(range(200))
    assert torch.equal(train, train.sort().values) and torch.equal(val, val.sort().values)
    kept, val_again = validation_split(200, 43, gen(), stratify=labels, n_train=50)
    assert torch.equal(val_again, val) and len(kept) == 50 and set(kept.tolist()) <= set(train.tolist())


def test_the_same_generator_state_gives_the_same_split_and_another_a_different_one():
    labels = torch.arange(300) % 3
    for stratify in (None, labels):
        a = validation_split(300, 30, gen(1), stratify=stratify)
        b = validation_split(300, 30, gen(1), stratify=stratify)
        c = validation_split(300, 30, gen(2), stratify=stratify)
        assert torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])


def test_stratified_indices_draw_within_each_class():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    chosen = stratified_indices(labels, 31, gen())
    counts = labels[chosen].bincount(minlength=3).tolist()
    assert sorted(counts) == [10, 10, 11] and len(set(chosen.tolist())) == 31
    with pytest.raises(ValueError, match="needs 7 examples of class 2 but the split has only 5"):
        stratified_indices(torch.tensor([0] * 50 + [1] * 30 + [2] * 5), 21, gen())


def test_bad_sizes_say_what_is_wrong():
    with pytest.raises(ValueError, match="a validation split of 100 must leave training examples"):
        validation_split(100, 100, gen())
    with pytest.raises(ValueError, match="cannot keep 95 training examples: 90 are left"):
        validation_split(100, 10, gen(), n_train=95)
    with pytest.raises(ValueError, match="one label per example"):
        validation_split(100, 10, gen(), stratify=torch.zeros(99, dtype=torch.long))
    assert len(validation_split(100, 0, gen())[1]) == 0  # no validation at all is allowed
