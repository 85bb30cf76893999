"""course_utils and tools/ have no import cycles and import no sibling inside a function.

The import graph is read from the source with ``ast`` (nothing is imported):
an edge for every ``import``/``from ... import`` of the package's own modules,
with ``from pkg import name`` pointing at the submodule ``pkg.name`` when
there is one. Importing a submodule also runs its package's ``__init__``;
that implicit step is not an edge (an ``__init__`` that re-exports its
submodules is the usual layout), but an explicit import of a package is.

Two rules:

1. no cycle among module-level imports (class bodies and ``if`` blocks at
   module level count as module level: they run at import);
2. no function imports a sibling: an import inside a function is how a cycle
   is usually hidden, and it makes the dependencies invisible at the top.
"""

import ast
import functools
import os
import subprocess
import sys
import textwrap
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("course_utils", "tools")  # each checked on its own: tools imports course_utils, never the reverse


# ---------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------


def package_modules(package_dir):
    """``{module name: path}`` of every ``.py`` file under ``package_dir``."""
    package_dir = Path(package_dir)
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


class _ImportFinder(ast.NodeVisitor):
    """Collects ``(target, line, function or None)`` for every import of the package's modules."""

    def __init__(self, module, is_package, modules, package):
        self.module, self.is_package, self.modules, self.package = module, is_package, modules, package
        self.scope = []  # names of the enclosing classes and functions
        self.functions = 0  # how many of them are functions
        self.found = []

    def visit_ClassDef(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def _visit_function(self, node):
        self.scope.append(node.name)
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def _add(self, target, node):
        if target == self.package or target.startswith(self.package + "."):
            # ``import pkg.a.b`` names a module; keep the longest prefix that is one.
            while target not in self.modules and "." in target:
                target = target.rsplit(".", 1)[0]
            function = ".".join(self.scope) if self.functions else None
            self.found.append((target, node.lineno, function))

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node):
        if node.level:  # relative: resolve against this module's package
            base = self.module.split(".")
            base = base if self.is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            self._add(candidate if candidate in self.modules else source, node)


def import_graph(package_dir):
    """``{module: [(target, line, function or None), ...]}`` for the package at ``package_dir``."""
    package_dir = Path(package_dir)
    modules = package_modules(package_dir)
    graph = {}
    for module, path in modules.items():
        finder = _ImportFinder(module, path.name == "__init__.py", modules, package_dir.name)
        finder.visit(ast.parse(path.read_text(), filename=str(path)))
        graph[module] = finder.found
    return graph, modules


def function_level_imports(graph, modules, root):
    """One line per import of a sibling inside a function: ``file:line: module imports target in f()``."""
    return [f"{modules[m].relative_to(root)}:{line}: {m} imports {target} inside {function}()"
            for m, edges in graph.items() for target, line, function in edges if function is not None]


def import_cycles(graph, modules, root):
    """The cycles among module-level imports, each as ``a (file:line) -> b (file:line) -> a``.

    Tarjan's strongly connected components; for each component of more than
    one module (or a module importing itself) its shortest cycle through the
    first module (by name) is shown.
    """
    edges = {m: {} for m in graph}
    for m, found in graph.items():
        for target, line, function in found:
            if function is None and target in edges:
                edges[m].setdefault(target, line)

    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                components.append(set(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)

    def one_cycle(component):
        """The shortest cycle from the component's first module back to itself (breadth-first)."""
        start = min(component)
        parent, queue, last = {}, deque([start]), None
        while last is None:
            v = queue.popleft()
            for w in sorted(edges[v]):
                if w == start:
                    last = v
                    break
                if w in component and w not in parent:
                    parent[w] = v
                    queue.append(w)
        path = [last]
        while path[-1] != start:
            path.append(parent[path[-1]])
        path = path[::-1] + [start]
        hops = [f"{a} ({modules[a].relative_to(root)}:{edges[a][b]})" for a, b in zip(path, path[1:])]
        return " -> ".join(hops + [start])

    return [one_cycle(c) for c in components]


# ---------------------------------------------------------------------------
# The rules, on course_utils and tools
# ---------------------------------------------------------------------------


@functools.cache
def package_graph(package):
    return import_graph(ROOT / package)


def test_the_graph_sees_the_package():
    """The rules below cannot pass vacuously: known modules and edges are found."""
    graph, modules = package_graph("course_utils")
    for module in ("course_utils", "course_utils.data", "course_utils.data.images", "course_utils.models.vgg"):
        assert module in modules
    module_level = {m: {t for t, _, f in edges if f is None} for m, edges in graph.items()}
    assert "course_utils.accounting" in module_level["course_utils.results"]
    assert "course_utils.data.sources" in module_level["course_utils.data.images"]  # via `from pkg import name`
    assert "course_utils.models.common" in module_level["course_utils.models.vgg"]


def test_the_graph_sees_the_tools():
    graph, modules = package_graph("tools")
    assert {"tools.nb", "tools.web", "tools.lab", "tools.notebook_paths"} <= set(modules)
    module_level = {m: {t for t, _, f in edges if f is None} for m, edges in graph.items()}
    assert {"tools.web", "tools.notebook_paths"} <= module_level["tools.nb"]
    assert "tools.notebook_paths" in module_level["tools.web"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_imports_a_sibling(package):
    graph, modules = package_graph(package)
    found = function_level_imports(graph, modules, ROOT)
    assert not found, ("import these at the top of the module (and remove the cycle it dodged, if any):\n"
                       + "\n".join(found))


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    graph, modules = package_graph(package)
    cycles = import_cycles(graph, modules, ROOT)
    assert not cycles, f"import cycles among {package} modules:\n" + "\n".join(cycles)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_first(package):
    """Each module imported first, into an interpreter where no other module
    of the package is loaded yet: a cycle the graph missed would fail here with
    an ImportError about a partially initialised module."""
    _, modules = package_graph(package)
    script = textwrap.dedent(f"""
        import importlib, sys
        failures = []
        for name in {sorted(modules)!r}:
            for loaded in [m for m in sys.modules if m == {package!r} or m.startswith({package + "."!r})]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as err:
                failures.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
        print("\\n".join(failures))
        sys.exit(1 if failures else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert result.returncode == 0, f"modules that fail when imported first:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------
# The checks catch planted problems
# ---------------------------------------------------------------------------


def write_package(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pkg"


CLEAN = {
    "pkg/__init__.py": "",
    "pkg/base.py": "import os\n",
    "pkg/a.py": "from pkg import base\nimport pkg.base\n",
    "pkg/sub/__init__.py": "from pkg.sub.x import f\nfrom pkg.sub.y import g\n",
    "pkg/sub/x.py": "from pkg.sub import y\n\ndef f():\n    return y.g()\n",
    "pkg/sub/y.py": "from .. import base\n\ndef g():\n    import json\n    return base\n",
}


def test_a_clean_package_passes(tmp_path):
    graph, modules = import_graph(write_package(tmp_path, CLEAN))
    assert function_level_imports(graph, modules, tmp_path) == []
    assert import_cycles(graph, modules, tmp_path) == []
    assert ("pkg.base", 1, None) in graph["pkg.sub.y"]  # relative import resolved
    assert [t for t, _, _ in graph["pkg.sub.x"]] == ["pkg.sub.y"]  # the submodule, not the package


def test_a_planted_cycle_is_reported_with_files_and_lines(tmp_path):
    files = dict(CLEAN)
    files["pkg/base.py"] = "import os\n\nfrom pkg.sub import x\n"  # base -> sub.x -> sub.y -> base
    graph, modules = import_graph(write_package(tmp_path, files))
    cycles = import_cycles(graph, modules, tmp_path)
    assert len(cycles) == 1
    assert cycles[0] == ("pkg.base (pkg/base.py:3) -> pkg.sub.x (pkg/sub/x.py:1) -> "
                         "pkg.sub.y (pkg/sub/y.py:1) -> pkg.base")


def test_a_cycle_through_a_package_init_is_reported(tmp_path):
    files = dict(CLEAN)
    files["pkg/sub/y.py"] = "import pkg.sub\n"  # sub/__init__ imports y, y imports the package sub
    graph, modules = import_graph(write_package(tmp_path, files))
    assert import_cycles(graph, modules, tmp_path) == [
        "pkg.sub (pkg/sub/__init__.py:2) -> pkg.sub.y (pkg/sub/y.py:1) -> pkg.sub"]


def test_a_planted_function_level_import_is_reported(tmp_path):
    files = dict(CLEAN)
    files["pkg/a.py"] = """\
        import os


        class Loader:
            def load(self):
                from pkg.sub import y

                return y
        """
    graph, modules = import_graph(write_package(tmp_path, files))
    assert function_level_imports(graph, modules, tmp_path) == [
        "pkg/a.py:6: pkg.a imports pkg.sub.y inside Loader.load()"]


def test_class_methods_are_named_with_their_class():
    finder = _ImportFinder("pkg.m", False, {"pkg", "pkg.m"}, "pkg")
    finder.visit(ast.parse("class A:\n    def f(self):\n        def g():\n            import pkg\n"))
    assert finder.found == [("pkg", 4, "A.f.g")]
