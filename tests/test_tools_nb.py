import subprocess
import sys

import jupytext
import nbformat

import course_utils
from tools import nb as nbtool

ROOT = nbtool.ROOT

NEW_NOTEBOOK = '''# %% [markdown]
# # 99 Demo
#
# An introduction.
#
# ## A slide
# text
#
# ### A sub-slide
# more

# %%
import math

# %% [markdown]
# plain text
'''


def write_pair(tmp_path, name="99_demo"):
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    py = tmp_path / f"{name}.py"
    py.write_text(NEW_NOTEBOOK)
    return py


def test_stamp_turns_a_new_py_into_a_course_notebook(tmp_path):
    py = write_pair(tmp_path)
    assert nbtool.main(["stamp", str(py)]) == 0
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    title, setup = nb.cells[0], next(c for c in nb.cells if c.cell_type == "code")
    assert title.source.startswith("# 99 Demo\n\n[![Open In Colab]") and nbtool.colab_url(py) in title.source
    assert course_utils.REPO_URL.removeprefix("https://github.com/") in nbtool.colab_url(py)
    assert f"git+{course_utils.REPO_URL}" in setup.source and "import math" in setup.source
    assert "seed_everything(0)" in setup.source and setup.metadata.tags == ["setup"]
    compile(setup.source, "setup", "exec")  # the generated cell is valid Python
    heads = [c.source.split("\n", 1)[0] for c in nb.cells if c.cell_type == "markdown"]
    assert heads == ["# 99 Demo", "## A slide", "### A sub-slide", "plain text"]
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert types == ["slide", "slide", "subslide", "skip", None]
    # the .py now holds exactly the stamped cells
    text = jupytext.read(py)
    assert [(c.cell_type, c.source) for c in text.cells] == [(c.cell_type, c.source) for c in nb.cells]
    # stamping twice changes nothing
    before = py.read_text(), py.with_suffix(".ipynb").read_text()
    nbtool.main(["stamp", str(py)])
    assert (py.read_text(), py.with_suffix(".ipynb").read_text()) == before


def test_stamp_keeps_speaker_notes(tmp_path):
    py = write_pair(tmp_path)
    py.write_text(NEW_NOTEBOOK + '\n# %% [markdown] slideshow={"slide_type": "notes"}\n# Say this aloud.\n')
    nbtool.main(["stamp", str(py)])
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    assert nb.cells[-1].source == "Say this aloud." and nb.cells[-1].metadata.slideshow.slide_type == "notes"
    assert 'slideshow={"slide_type": "notes"}' in py.read_text()


def test_a_prose_edit_in_the_py_keeps_the_saved_outputs(tmp_path):
    py = write_pair(tmp_path)
    nbtool.main(["stamp", str(py)])
    ipynb = py.with_suffix(".ipynb")
    nb = nbformat.read(ipynb, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="profile: standard\n")]
    setup.execution_count = 1
    nbtool.save(nb, ipynb)
    py.write_text(py.read_text().replace("# text", "# text, edited"))
    import os
    import time

    future = time.time() + 5
    os.utime(py, (future, future))  # the .py was edited last
    assert nbtool.main(["sync", str(py)]) == 0
    synced = nbformat.read(ipynb, as_version=4)
    assert any("text, edited" in c.source for c in synced.cells)
    setup = next(c for c in synced.cells if c.cell_type == "code")
    assert setup.outputs[0].text == "profile: standard\n" and setup.execution_count == 1


def test_stamp_keeps_the_notebook_part_of_the_setup(tmp_path):
    py = write_pair(tmp_path)
    nbtool.main(["stamp", str(py)])
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("colab.research.google.com/github", "example.org")
    nbtool.stamp(nb, py)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert nbtool.colab_url(py) in nb.cells[0].source and "example.org" not in nb.cells[0].source
    assert setup.source.count(nbtool.SETUP_MARKER) == 1 and setup.source.count("import math") == 1


def test_key_results_are_read_from_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\nKey result: acc = 0.91\n")]
    nb.cells = [cell]
    assert nbtool.key_results(nb) == ["acc = 0.91"]


def test_commands_refuse_files_that_are_not_notebooks(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "nb.py"), "stamp", str(tmp_path / "x.txt")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "expected a notebook's .py or .ipynb file" in done.stderr


def test_tidy_streams_keeps_what_a_reader_sees():
    cell = nbformat.v4.new_code_cell("fit(...)")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
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
    assert "execution" not in cell.metadata


def test_a_markdown_cell_tagged_notes_is_speaker_notes():
    notes = nbformat.v4.new_markdown_cell("Say why before showing how.", metadata={"tags": ["notes"]})
    heading = nbformat.v4.new_markdown_cell("## A slide", metadata={"tags": ["notes"]})
    assert nbtool.slide_type(notes) == "notes"
    assert nbtool.slide_type(heading) == "slide"  # a heading always starts its slide
    assert nbtool.slide_type(nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["notes"]})) is None
