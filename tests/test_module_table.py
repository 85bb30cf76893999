"""CONTRIBUTING's module table lists every course_utils module with its docstring's summary."""

import textwrap

import pytest

from tools import module_table


def test_contributing_lists_every_module_with_its_summary():
    text = module_table.CONTRIBUTING.read_text()
    assert module_table.current(text) == module_table.table(), (
        "CONTRIBUTING.md's module table differs from the modules' docstrings (a module added, removed or its "
        "summary changed): run `python tools/module_table.py` and commit CONTRIBUTING.md")


def test_the_table_covers_the_package():
    """Not vacuous: modules of every level are there, each with its own summary."""
    found = module_table.summaries()
    assert {"course_utils", "course_utils.train", "course_utils.data.splits", "course_utils.models.resnet9",
            "course_utils.attention", "course_utils.experiments.runner"} <= set(found)
    assert found["course_utils.timing"].startswith("Timing code honestly")
    assert len(set(found.values())) == len(found), "two modules share a summary"


def write(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root / "pkg"


def test_a_new_module_or_a_changed_summary_changes_the_table(tmp_path):
    package = write(tmp_path, {"pkg/__init__.py": '"""The package."""\n',
                               "pkg/a.py": '"""Module ``a``: does one thing\nwell.\n\nDetails follow."""\n'})
    before = module_table.table(package)
    assert "| `pkg.a` | Module `a`: does one thing well. |" in before
    write(tmp_path, {"pkg/sub/b.py": '"""Module b."""\n'})
    assert "| `pkg.sub.b` | Module b. |" in module_table.table(package)
    write(tmp_path, {"pkg/sub/b.py": '"""Module b, changed."""\n'})
    assert "| `pkg.sub.b` | Module b, changed. |" in module_table.table(package)


def test_a_module_without_a_docstring_is_named(tmp_path):
    package = write(tmp_path, {"pkg/__init__.py": '"""The package."""\n', "pkg/bare.py": "x = 1\n"})
    with pytest.raises(ValueError, match=r"pkg/bare.py has no docstring"):
        module_table.summaries(package)
