"""CONTRIBUTING's table of the ``course_utils`` modules, built from their docstrings.

Every module of the package has a row: its dotted name and its docstring's
summary (the first paragraph, on one line). The table sits in
CONTRIBUTING.md between the two marker lines below; ``tests/test_module_table.py``
fails when it differs from the modules, so a new module, a removed one or a
changed summary shows up there. After such a change::

    python tools/module_table.py        # rewrites the table in CONTRIBUTING.md
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "course_utils"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
BEGIN = "<!-- module table: built by `python tools/module_table.py` from each module's docstring -->"
END = "<!-- end of module table -->"


def summaries(package_dir=ROOT / PACKAGE):
    """``{dotted module name: summary}`` for every ``.py`` file of the package, in name order.

    The summary is the docstring's first paragraph on one line, with reST's
    double backticks as Markdown's single ones; a module without a docstring
    raises ``ValueError`` (every module says what it is for).
    """
    package_dir = Path(package_dir)
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        doc = ast.get_docstring(ast.parse(path.read_text(), filename=str(path)))
        if not doc:
            raise ValueError(f"{path.relative_to(package_dir.parent)} has no docstring: start it with one line "
                             "that says what the module is for")
        first = " ".join(doc.split("\n\n")[0].split())
        out[".".join(parts)] = first.replace("``", "`").replace("|", "\\|")
    return dict(sorted(out.items()))


def table(package_dir=ROOT / PACKAGE):
    """The Markdown table, between its markers."""
    rows = [f"| `{name}` | {summary} |" for name, summary in summaries(package_dir).items()]
    return "\n".join([BEGIN, "| module | what it is for |", "| --- | --- |", *rows, END])


def current(text):
    """The table as it stands in ``text`` (CONTRIBUTING's), markers included."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"CONTRIBUTING.md has no module table: put the lines {BEGIN!r} and {END!r} where it goes")
    return text[text.index(BEGIN):text.index(END) + len(END)]


def main():
    text = CONTRIBUTING.read_text()
    new = text.replace(current(text), table())
    if new != text:
        CONTRIBUTING.write_text(new)
        print(f"updated the module table in {CONTRIBUTING.relative_to(ROOT)}")
    else:
        print("the module table is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
