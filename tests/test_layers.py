"""The layer rules of docs/architecture.md, checked on the source: no import cycles between
modules, no upward imports, no app importing an app above it, no module importing a page view or
a consumer. Every import counts, also one inside a function: a lazy import hides a dependency from
the reader, not from the running program. Templates count too: an app's templates load no tag
library, include no template and link no static file of an app it may not import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
APPS = ("workflows", "approvals", "notifications", "hitl_site")

# Bottom to top: a module may import its own layer and the layers below it. Every module must
# match exactly one pattern, so a new module gets its place on purpose.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("engine", ("workflows.engine", "workflows.engine.*")),
    ("definitions", ("workflows.definitions", "workflows.definitions.*", "workflows.flows")),
    (
        "plumbing",
        (
            "workflows.runtime",
            "workflows.runtime.broadcast",
            "workflows.runtime.dispatch",
            "workflows.runtime.hooks",
            "notifications.addresses",
        ),
    ),
    ("models", ("*.models", "*.migrations", "*.migrations.*")),
    (
        "domain",
        (
            "workflows.store",
            "workflows.store.*",
            "workflows.teams",
            "workflows.selectors",
            "workflows.registry",
            "workflows.representations",
            "approvals.selectors",
            "notifications.selectors",
            "notifications.signing",
            "notifications.posting",
            "notifications.outbox",
            "notifications.links",
            "notifications.emails",
            "notifications.endpoints",
        ),
    ),
    ("services", ("workflows.services", "approvals.services", "approvals.bulk", "notifications.services")),
    ("workers", ("workflows.runtime.worker", "workflows.tasks", "notifications.tasks")),
    (
        "web",
        (
            "workflows.web",
            "workflows.web.analytics",
            "workflows.web.charts",
            "workflows.web.contexts",
            "workflows.web.export",
            "workflows.web.forms",
            "workflows.web.graph",
            "workflows.web.live",
            "workflows.web.openapi",
            "workflows.web.tokens",
            "approvals.contexts",
            "*.forms",
            "*.templatetags",
            "*.templatetags.*",
        ),
    ),
    ("endpoints", ("*.views", "*.api", "*.consumers")),
    (
        "wiring",
        (
            "workflows",
            "approvals",
            "notifications",
            "*.apps",
            "*.admin",
            "*.checks",
            "*.management",
            "*.management.*",
            "*.urls",
            "*.api_urls",
            "*.routing",
            "hitl_site",
            "hitl_site.*",
        ),
    ),
]

# Which apps each app may import: workflows knows nothing of the apps built on it; the
# notifications read approvals' audit through a hook, not an import.
APP_MAY_IMPORT = {
    "workflows": {"workflows"},
    "approvals": {"approvals", "workflows"},
    "notifications": {"notifications", "workflows"},
    "hitl_site": set(APPS),
}

# Pages and sockets are entry points: only URL confs and websocket routes import them. What a page
# and a socket both render comes from a context module under them.
ENTRY_POINTS = ("*.views", "*.consumers")
ENTRY_POINT_IMPORTERS = ("*.urls", "*.routing")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} ({self.path.relative_to(PROJECT_DIR)}:{self.line})"


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in sorted((PROJECT_DIR / app).rglob("*.py")):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every project module ``module`` imports, at any depth of its code (``from package import
    name`` counts as importing the submodule when ``name`` is one). Imports for type checkers only
    (under ``if TYPE_CHECKING:``) never run, so they do not count."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found += [Import(module, t, path, node.lineno) for t in targets if t in modules and t != module]
    return list(dict.fromkeys(found))


def _runtime_nodes(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for stmt in child.orelse for n in [stmt, *_runtime_nodes(stmt)])
            continue
        yield child
        yield from _runtime_nodes(child)


MODULES = project_modules()
IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path, MODULES)]


def layer_of(module: str) -> int:
    matches = [i for i, (_, patterns) in enumerate(LAYERS) if any(fnmatchcase(module, p) for p in patterns)]
    assert len(matches) == 1, (
        f"{module} must match exactly one layer of LAYERS, matches {[LAYERS[i][0] for i in matches]}"
    )
    return matches[0]


def test_every_module_has_one_layer():
    for module in MODULES:
        layer_of(module)


def test_no_upward_imports():
    order = " < ".join(name for name, _ in LAYERS)
    upward = [
        f"{imp}: {LAYERS[layer_of(imp.importer)][0]} may not import {LAYERS[layer_of(imp.imported)][0]}"
        for imp in IMPORTS
        if layer_of(imp.imported) > layer_of(imp.importer)
    ]
    assert not upward, f"upward imports (layers: {order}):\n" + "\n".join(upward)


def test_apps_import_only_the_apps_below():
    across = [
        f"{imp}: {imp.importer.split('.')[0]} may import only {sorted(APP_MAY_IMPORT[imp.importer.split('.')[0]])}"
        for imp in IMPORTS
        if imp.imported.split(".")[0] not in APP_MAY_IMPORT[imp.importer.split(".")[0]]
    ]
    assert not across, "imports across apps:\n" + "\n".join(across)


def test_nothing_imports_a_view_or_a_consumer():
    def matches(module, patterns):
        return any(fnmatchcase(module, p) for p in patterns)

    offenders = [
        f"{imp}: only URL confs and websocket routes import pages and sockets"
        for imp in IMPORTS
        if matches(imp.imported, ENTRY_POINTS) and not matches(imp.importer, ENTRY_POINT_IMPORTERS)
    ]
    assert not offenders, "\n".join(offenders)


def test_no_import_cycles():
    graph: dict[str, dict[str, Import]] = {}
    for imp in IMPORTS:
        graph.setdefault(imp.importer, {}).setdefault(imp.imported, imp)
    cycles = [_cycle_in(component, graph) for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, "import cycles:\n" + "\n\n".join("\n".join(f"  {imp}" for imp in cycle) for cycle in cycles)


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm (recursive: the module graph is shallow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _cycle_in(component: set[str], graph: dict[str, dict[str, Import]]) -> list[Import]:
    """One cycle through the component, as the imports that close it (breadth-first: the shortest
    way back to the start)."""
    start = min(component)
    paths = {start: []}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt, imp in sorted(graph.get(node, {}).items()):
            if nxt == start:
                return [*paths[node], imp]
            if nxt in component and nxt not in paths:
                paths[nxt] = [*paths[node], imp]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from workflows import services\n", ["workflows.services"]),
        ("def f():\n    from .runtime import worker\n", ["workflows.runtime.worker"]),
        ("from workflows.engine import Workflow\n", ["workflows.engine"]),
        ("import workflows.web.views\n", ["workflows.web.views"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from workflows import services\n", []),
    ],
)
def test_imports_are_found_at_any_depth(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert [imp.imported for imp in imports_of("workflows.example", path, MODULES)] == expected


# The site's own templates, tag library ({% load site %}: it composes the apps) and static files.
SITE_TEMPLATES = PROJECT_DIR / "templates"
SITE_LIBRARY, SITE_STATIC = "site", "site"
TEMPLATE_REFERENCES = {
    "library": re.compile(r"{%\s*load\s+([\w ]+?)\s*%}"),
    "template": re.compile(r"{%\s*(?:extends|include)\s+[\"']([\w-]+)/"),
    "static file": re.compile(r"{%\s*static\s+[\"']([\w-]+)/"),
}


def _owner(kind: str, name: str) -> str | None:
    """The project app a library, template folder or static folder belongs to (None: Django's or a
    third party's)."""
    if kind == "library":
        if name == SITE_LIBRARY:
            return "hitl_site"
        owners = [app for app in APPS if (PROJECT_DIR / app / "templatetags" / f"{name}.py").exists()]
        return owners[0] if owners else None
    if kind == "static file" and name == SITE_STATIC:
        return "hitl_site"
    return name if name in APPS else None


def test_templates_reference_only_the_apps_below():
    folders = {app: PROJECT_DIR / app / "templates" for app in APPS if app != "hitl_site"}
    folders["hitl_site"] = SITE_TEMPLATES
    offenders = []
    for app, folder in folders.items():
        # The site's library composes the apps: an app's template may load it (as it extends
        # base.html), and the site's own templates reach the apps only through it.
        allowed = {"hitl_site"} if app == "hitl_site" else APP_MAY_IMPORT[app] | {"hitl_site"}
        for path in sorted(folder.rglob("*.html")):
            text = path.read_text()
            for kind, pattern in TEMPLATE_REFERENCES.items():
                for match in pattern.finditer(text):
                    names = match.group(1).split() if kind == "library" else [match.group(1)]
                    for name in names:
                        owner = _owner(kind, name)
                        if owner is not None and owner not in allowed:
                            line = text.count("\n", 0, match.start()) + 1
                            where = path.relative_to(PROJECT_DIR)
                            offenders.append(f"{where}:{line} uses the {kind} {name!r} of {owner}")
    assert not offenders, "templates reaching above their app:\n" + "\n".join(offenders)
