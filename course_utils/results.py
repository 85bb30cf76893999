"""Key results of the notebooks, recorded so they can be compared later.

``record("06", "lenet_relu_test_acc", 0.897, params=61_706, ...)`` prints a
``Key result:`` line (which ``make course`` picks up for its summary) and
stores the value in ``build/results/<profile>/06.json`` under the repository
(or under ``COURSE_RESULTS_DIR``). Each profile has its own folder, so a quick
smoke run (``make test``) never overwrites the figures of a standard or full
run. Notebook 09's comparison table reads the active profile's results back
with :func:`load`.
"""

import json
import os
import time

from course_utils import profile
from course_utils.accounting import count_macs, count_params
from course_utils.paths import project_folder


def results_dir(profile_name=None):
    """The folder holding the results of ``profile_name`` (default: the active profile)."""
    return project_folder("COURSE_RESULTS_DIR", "build/results") / (profile_name or profile.current())


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def record(notebook, name, value, **extra):
    """Print and store one result of ``notebook`` (e.g. ``"06"``)."""
    notebook = str(notebook)
    entry = {"value": value, "profile": profile.current(), "time": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    path = results_dir() / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[name] = entry
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=2, sort_keys=True))
    os.replace(tmp, path)
    details = ", ".join(f"{k}={_format(v)}" for k, v in extra.items())
    print(f"Key result: {name} = {_format(value)}" + (f" ({details})" if details else ""))
    return entry


def record_training(notebook, name, model, history, input_shape, train_batches, test_batches, description,
                    test_acc=None, **extra):
    """Record a model trained with ``fit``: its test accuracy, with the
    figures notebook 09's comparison table shows (parameters, multiply-adds
    for one ``input_shape`` image, mean seconds per epoch, total training
    seconds and examples/s, epochs, train and test set sizes, device, and the
    last validation accuracy if the history has one). ``description`` names
    the model in the table, e.g. ``"VGG-11 (width 0.25, BN)"``.

    ``test_acc`` is the accuracy measured once on the test set after
    training (``evaluate(model, test_batches)["acc"]``), for a run that
    evaluated a validation split each epoch; without it, the history's last
    ``test_acc`` is used.
    """
    final = history.final.metrics
    if test_acc is None:
        if "test_acc" not in final:
            raise ValueError("this history has no test_acc (it evaluated another set): measure the test set once "
                             "and pass test_acc=evaluate(model, test_batches)['acc']")
        test_acc = final["test_acc"]
    if "val_acc" in final:
        extra.setdefault("val_acc", round(final["val_acc"], 4))
    device = next(model.parameters()).device
    return record(notebook, name, round(float(test_acc), 4), model=description,
                  params=count_params(model), macs=count_macs(model, input_shape), input_size=input_shape[-1],
                  seconds_per_epoch=round(history.mean("seconds"), 2),
                  train_seconds=round(sum(history.column("seconds")), 1),
                  examples_per_s=round(history.mean("examples_per_s")), epochs=len(history),
                  n_train=train_batches.num_examples, n_test=test_batches.num_examples, device=str(device),
                  **extra)


def load(notebook=None, profile_name=None):
    """Stored results of the active profile (or ``profile_name``): of one
    notebook (``{name: entry}``), or of all (``{notebook: {name: entry}}``).
    Missing files give empty dicts."""
    folder = results_dir(profile_name)
    if notebook is not None:
        path = folder / f"{notebook}.json"
        return json.loads(path.read_text()) if path.exists() else {}
    if not folder.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
