"""The shape of the code, read from the import statements of authd/, matching/ and keys/.

Every import counts: at module level, inside a function, under `if TYPE_CHECKING:`. An
import hidden in a function still makes the two modules depend on each other.

- no cycle among authd's modules;
- one direction between the packages: authd -> matching -> keys (never back up);
- a route module never imports another route module (shared code lives outside routes/);
- each outside library stays behind the one place that wraps it: the web framework in
  authd/http, FAISS in matching's index modules, the face libraries in matching's encoders,
  JWT and cryptographic primitives in keys/.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("authd", "matching", "keys")
ROUTES = "authd.http.routes"

# library (top-level name) -> where it may be imported (module names or package prefixes)
CONFINED: dict[str, tuple[str, ...]] = {
    "fastapi": ("authd.http",),
    "starlette": ("authd.http",),
    "faiss": ("matching.index",),  # matching/index.py and its backend modules index_*.py
    "cv2": ("matching.sface_encoder",),
    "dlib": ("matching.dlib_encoder",),
    "face_recognition": ("matching.dlib_encoder",),
    "face_recognition_models": ("matching.dlib_encoder",),
    "jwt": ("keys",),
    "cryptography": ("keys",),
    "nacl": ("keys",),
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported name, dotted (module, or module.attribute)
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:  # Alembic scripts, run by Alembic alone
                yield path


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every import statement in the file (ast.walk: function bodies and TYPE_CHECKING too)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield Import(name, f"{base}.{alias.name}", node.lineno)


def all_imports(root: Path) -> list[Import]:
    return [imp for path in source_files(root) for imp in imports_of(path, root)]


def our_modules(root: Path) -> set[str]:
    return {module_name(path, root) for path in source_files(root)}


def resolve(target: str, modules: set[str]) -> str | None:
    """The module of ours a dotted import name lands in (`a.b.func` -> `a.b`), or None."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def graph(imports: list[Import], modules: set[str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        target = resolve(imp.target, modules)
        if target is not None and target != imp.source:
            edges[imp.source].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def within(module: str, places: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") or module.startswith(p + "_")
               for p in places)


def layer_violations(imports: list[Import]) -> list[str]:
    below = {"matching": {"authd"}, "keys": {"authd", "matching"}}
    return [f"{i.source}:{i.line} imports {i.target}" for i in imports
            if i.target.split(".")[0] in below.get(i.source.split(".")[0], set())]


def route_violations(imports: list[Import], modules: set[str]) -> list[str]:
    def is_route(module: str | None) -> bool:
        return module is not None and module.startswith(ROUTES + ".")

    return [f"{i.source}:{i.line} imports {i.target}" for i in imports
            if is_route(i.source) and is_route(resolve(i.target, modules))
            and resolve(i.target, modules) != i.source]


def library_violations(imports: list[Import]) -> list[str]:
    return [f"{i.source}:{i.line} imports {i.target}" for i in imports
            if (places := CONFINED.get(i.target.split(".")[0])) is not None
            and not within(i.source, places)]


def problems(root: Path) -> dict[str, list[str]]:
    imports, modules = all_imports(root), our_modules(root)
    authd = {m for m in modules if m.split(".")[0] == "authd"}
    authd_edges = {m: targets & authd for m, targets in graph(imports, modules).items()
                   if m in authd}
    return {
        "cycles": [" <-> ".join(c) for c in cycles(authd_edges)],
        "layers": layer_violations(imports),
        "routes": route_violations(imports, modules),
        "libraries": library_violations(imports),
    }


@pytest.fixture(scope="module")
def found() -> dict[str, list[str]]:
    return problems(ROOT)


def test_sees_the_code() -> None:
    """The walk reads the real tree (an empty walk would pass every check below)."""
    modules = our_modules(ROOT)
    assert {"authd.http.app", "authd.cli.main", "matching.templates", "keys.ring"} <= modules
    assert len(all_imports(ROOT)) > 300


PENDING: dict[str, list[str]] = {}  # accepted faults: none


@pytest.mark.parametrize("kind", ["cycles", "layers", "routes", "libraries"])
def test_architecture(found: dict[str, list[str]], kind: str) -> None:
    faults = [re.sub(r":\d+ imports ", " imports ", fault) for fault in found[kind]]
    assert faults == PENDING.get(kind, []), "\n".join(found[kind])


# The checks themselves, on a small tree written for each case: each must catch its fault.

def write_tree(root: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "authd/cli/__init__.py": "",
        "authd/cli/main.py": "from authd.cli import keys\n",
        "authd/cli/keys.py": "def f():\n    from authd.cli.main import opened\n",
    })
    assert problems(root)["cycles"] == ["authd.cli.keys <-> authd.cli.main"]


def test_finds_a_cycle_through_type_checking_and_relative_imports(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "authd/http/__init__.py": "",
        "authd/http/state.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from ..faces.service import FaceService\n",
        "authd/faces/__init__.py": "",
        "authd/faces/service.py": "from authd.http.state import AppState\n",
    })
    assert problems(root)["cycles"] == ["authd.faces.service <-> authd.http.state"]


def test_finds_imports_against_the_direction(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "matching/index.py": "from authd.settings import Settings\n",
        "keys/ring.py": "import matching.templates\n",
        "authd/settings.py": "import keys\nimport matching\n",
    })
    assert problems(root)["layers"] == ["matching.index:1 imports authd.settings.Settings",
                                        "keys.ring:1 imports matching.templates"]


def test_finds_a_route_importing_a_route(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "authd/http/__init__.py": "",
        "authd/http/deps.py": "",
        "authd/http/routes/__init__.py": "",
        "authd/http/routes/auth.py": "from authd.http.deps import x\n",
        "authd/http/routes/faces.py": "def f():\n    from .auth import router\n",
    })
    assert problems(root)["routes"] == ["authd.http.routes.faces:2 imports "
                                        "authd.http.routes.auth.router"]


def test_finds_a_library_out_of_its_place(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "authd/http/app.py": "import fastapi\n",
        "authd/otp/notify.py": "from starlette.requests import Request\n",
        "matching/index_flat.py": "import faiss\n",
        "matching/dedup.py": "def f():\n    import faiss\n",
        "matching/worker.py": "import cv2\n",
        "authd/tokens/issuance.py": "import jwt\n",
        "keys/tokens.py": "import jwt\n"
                          "from cryptography.hazmat.primitives import hashes\n",
    })
    assert problems(root)["libraries"] == [
        "authd.otp.notify:1 imports starlette.requests.Request",
        "authd.tokens.issuance:1 imports jwt",
        "matching.dedup:2 imports faiss",
        "matching.worker:1 imports cv2",
    ]
