"""Which examples train and which validate: seeded splits of a training set by index.

- :func:`validation_split`: ``(train_indices, val_indices)`` of a training
  set, the validation part drawn at random or class-stratified; optionally
  only a random ``n_train`` of the training part.
- :func:`stratified_indices`: ``n`` indices of a labelled set whose class
  counts differ by at most one.

Every draw comes from the ``torch.Generator`` the caller passes, so the
caller decides what makes two splits the same: ``ImageDataset`` seeds one
with its ``seed`` argument, the ResNet experiments with a fixed key (one
45k/5k split for every run, as in the paper). Both return sorted indices.
"""

import torch


def stratified_indices(labels, n, generator, num_classes=None, what="n"):
    """``n`` sorted indices into ``labels`` with ``n // num_classes`` of each
    class, and one more of each of ``n % num_classes`` classes drawn at
    random; within a class the examples are drawn at random.

    ``num_classes`` defaults to ``labels.max() + 1``; ``what`` names ``n`` in
    error messages.
    """
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if n < 0 or n > len(labels):
        raise ValueError(f"{what}={n} is out of range: the split has {len(labels)} examples")
    per_class = [torch.nonzero(labels == k).flatten() for k in range(num_classes)]
    counts = [n // num_classes] * num_classes
    extra = torch.randperm(num_classes, generator=generator)[: n % num_classes]
    for k in extra.tolist():
        counts[k] += 1
    chosen = []
    for k, (idx, count) in enumerate(zip(per_class, counts)):
        if count > len(idx):
            raise ValueError(f"{what}={n} needs {count} examples of class {k} but the split has only {len(idx)}")
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:count]])
    return torch.cat(chosen).sort().values


def validation_split(num_examples, n_val, generator, *, stratify=None, num_classes=None, n_train=None):
    """Split the indices ``0 .. num_examples - 1`` into ``(train, val)``, both sorted.

    Args:
        num_examples: the size of the training set to split.
        n_val: how many go to validation (0 is allowed: no validation).
        generator: a ``torch.Generator``; the same generator state gives the
            same split.
        stratify: the set's labels to draw a class-stratified validation part
            (:func:`stratified_indices`); ``None`` draws it uniformly at random
            (the first ``n_val`` of a random order).
        num_classes: the number of classes with ``stratify``
            (default ``labels.max() + 1``).
        n_train: keep only this many training indices, drawn at random from
            the rest (without ``stratify``: the next ``n_train`` of the same
            random order); ``None`` keeps them all.
    """
    if not 0 <= n_val < num_examples:
        raise ValueError(f"a validation split of {n_val} must leave training examples: the set has "
                         f"{num_examples}")
    if stratify is None:
        order = torch.randperm(num_examples, generator=generator)
        val, train = order[:n_val], order[n_val:]
    else:
        if len(stratify) != num_examples:
            raise ValueError(f"stratify needs one label per example: got {len(stratify)} for {num_examples}")
        val = stratified_indices(stratify, n_val, generator, num_classes, what="n_val")
        keep = torch.ones(num_examples, dtype=torch.bool)
        keep[val] = False
        train = torch.nonzero(keep).flatten()
        if n_train is not None:
            train = train[torch.randperm(len(train), generator=generator)]
    if n_train is not None:
        if not 0 <= n_train <= len(train):
            raise ValueError(f"cannot keep {n_train} training examples: {len(train)} are left after holding "
                             f"out {n_val} for validation")
        train = train[:n_train]
    return train.sort().values, val.sort().values
