import sys

import nbformat

import course_utils
from tools import nb as nbtool

ROOT = nbtool.ROOT


def test_build_writes_badge_setup_cell_and_slides(tmp_path):
    path = tmp_path / "99_demo.ipynb"
    nbtool.build(path, "Demo", [
        nbtool.md("## A slide\ntext"),
        nbtool.code("x = 1"),
        nbtool.md("### A sub-slide"),
        nbtool.md("plain text"),
    ], imports="import math", needs_d2l=True)
    nb = nbformat.read(path, as_version=4)
    title, setup = nb.cells[0], nb.cells[1]
    assert "colab-badge.svg" in title.source and nbtool.colab_url(path) in title.source
    assert course_utils.REPO_URL.removeprefix("https://github.com/") in nbtool.colab_url(path)
    assert f"git+{course_utils.REPO_URL}" in setup.source and "--no-deps" in setup.source
    assert "import math" in setup.source and "seed_everything(0)" in setup.source
    assert setup.metadata.tags == ["setup"]
    types = [c.metadata.slideshow.slide_type for c in nb.cells]
    assert types == ["slide", "skip", "slide", "-", "subslide", "-"]
    compile(setup.source, "setup", "exec")  # the generated cell is valid Python


def test_stamp_keeps_the_notebook_part_of_the_setup(tmp_path):
    path = tmp_path / "98_demo.ipynb"
    nbtool.build(path, "Demo", [nbtool.code("y = 2")], imports="import os")
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("colab.research.google.com/github", "example.org")
    nbtool.stamp(nb, path)
    assert nbtool.colab_url(path) in nb.cells[0].source
    assert nb.cells[1].source.count(nbtool.SETUP_MARKER) == 1 and "import os" in nb.cells[1].source


def test_key_results_are_read_from_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\nKey result: acc = 0.91\n")]
    nb.cells = [cell]
    assert nbtool.key_results(nb) == ["acc = 0.91"]


def test_builder_refuses_arguments_and_keeps_the_notebook():
    import subprocess

    notebook = ROOT / "notebooks" / "00_start_here.ipynb"
    before = notebook.read_bytes()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_nb00.py"), "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "takes no arguments" in done.stderr
    assert notebook.read_bytes() == before


def test_tidy_streams_keeps_what_a_reader_sees():
    cell = nbformat.v4.new_code_cell("fit(...)")
    stream = lambda text, name="stdout": nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    cell.outputs = [
        stream("\rtraining:  10%|#  | 1/10"), stream("\rtraining:  50%|##### | 5/10"),
        stream("\r                    "), stream("\r"), stream("epoch 1/2  acc 80%\n"),
        stream("\rtraining:  90%|#########| 9/10"), stream("\r                    \r"),
        stream("epoch 2/2  acc 85%\n"), stream("a warning\n", "stderr"), stream("done\n"),
    ]
    nbtool.tidy_streams(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stdout", "epoch 1/2  acc 80%\nepoch 2/2  acc 85%\n"), ("stderr", "a warning\n"), ("stdout", "done\n")]
