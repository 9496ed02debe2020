"""The house's rules, checked from the source: layers, no import cycles, a light ``import sbil``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top: a module may import modules of its own layer or of lower ones, never higher ones.
LAYERS = [
    ("sbil_envs",),
    ("sbil.errors", "sbil.io", "sbil.cli", "sbil.logging", "sbil.checkpoint"),
    ("sbil.data", "sbil.envs"),
    ("sbil.rewards",),
    ("sbil.sb3", "sbil.buffers"),
    ("sbil.experts",),
    ("sbil.config", "sbil.train"),
    ("sbil.benchmark",),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "envs":
        parts[0] = "sbil_envs"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    paths = [*(ROOT / "sbil").rglob("*.py"), *(ROOT / "envs").rglob("*.py")]
    return {_module_name(p): p for p in paths}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every sbil / sbil_envs module ``name`` imports, at the top or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def _layer(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} is in no layer of tests/test_layout.py: add it")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_lower_layers_never_import_higher_ones():
    graph = _graph()
    wrong = sorted(f"{m} -> {d}" for m, deps in graph.items() if m != "sbil" for d in deps if _layer(d) > _layer(m))
    assert not wrong, wrong
    assert not [d for m, deps in graph.items() if m.startswith("sbil_envs") for d in deps if not d.startswith("sbil_envs")]


def test_no_import_cycles():
    graph = _graph()
    done: set[str] = set()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph[node]):
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    for node in sorted(graph):
        visit(node, [node])
    assert not cycles, cycles


@pytest.mark.parametrize("module", ["sbil", "sbil.rewards"])
def test_importing_sbil_loads_no_mujoco(module):
    code = f"import sys, {module}, gymnasium as gym; gym.spec('sbil/H1Walk-v0'); print('mujoco' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_registration_names_match_the_robots_and_tasks():
    import sbil_envs
    from sbil_envs.robots import ROBOTS
    from sbil_envs.tasks import TASKS

    assert sbil_envs.ROBOT_NAMES == tuple(ROBOTS) and sbil_envs.TASK_NAMES == tuple(TASKS)
