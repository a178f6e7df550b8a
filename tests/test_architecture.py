"""The package's layering, as docs/architecture.md declares it.

The table in that document is the one statement of what each package may
import; this test reads it and holds every import of the library to it.
"""

import ast
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_rnnofrnns")
DOCUMENT = os.path.join(ROOT, "docs", "architecture.md")
BACKENDS = ("tensorflow", "jax", "torch")
# The layers that compute with keras.ops only: they must run on every backend.
CORE = ("checks", "_layers", "constraints", "modules", "coupling", "cells", "stability", "models")


def declared_layers():
    """{package: set of packages it may import} from the document's table."""
    allowed = {}
    with open(DOCUMENT, encoding="utf-8") as handle:
        for line in handle:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) != 4 or not cells[1].startswith("`"):
                continue
            imports = set(re.findall(r"`([\w.]+)`", cells[2]))
            for package in re.findall(r"`([\w.]+)`", cells[1]):
                allowed[package] = imports
    return allowed


def library_imports():
    """[(file, importing package, imported top-level module path)] of the library."""
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, PACKAGE)
            package = relative.split(os.sep)[0]
            if package == "__init__.py":
                continue  # the front: re-exports every layer
            package = package[:-3] if package.endswith(".py") else package
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            # The dotted name of this file's package, for relative imports.
            here = ["keras_rnnofrnns"] + relative[:-3].split(os.sep)[:-1]
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    base = here[: len(here) - node.level + 1] if node.level else []
                    module = ".".join(base + ([node.module] if node.module else []))
                    found.append((relative, package, module))
                elif isinstance(node, ast.Import):
                    found.extend((relative, package, alias.name) for alias in node.names)
    return found


def test_the_document_declares_every_package_once():
    allowed = declared_layers()
    packages = {
        name[:-3] if name.endswith(".py") else name
        for name in os.listdir(PACKAGE)
        if name != "__init__.py" and (name.endswith(".py") or os.path.isdir(os.path.join(PACKAGE, name)))
        and not name.startswith("__")
    }
    assert set(allowed) == packages
    for package, imports in allowed.items():
        assert imports <= packages, (package, imports - packages)


def test_every_import_of_the_library_follows_the_layers():
    allowed = declared_layers()
    broken = []
    for relative, package, module in library_imports():
        parts = module.split(".")
        if parts[0] != "keras_rnnofrnns":
            continue
        target = parts[1] if len(parts) > 1 else "(the front)"
        if target != package and target not in allowed[package]:
            broken.append(f"{relative} imports {module}")
    assert not broken, "imports the layers of docs/architecture.md do not allow:\n" + "\n".join(broken)


@pytest.mark.parametrize("package", CORE)
def test_the_core_uses_no_backend_directly(package):
    direct = [
        f"{relative} imports {module}"
        for relative, owner, module in library_imports()
        if owner == package and module.split(".")[0] in BACKENDS
    ]
    assert not direct


def test_the_declaration_is_read_and_can_refuse(tmp_path, monkeypatch):
    # A table that forbids what the code does must make the check fail.
    allowed = declared_layers()
    assert allowed["cells"] >= {"coupling", "constraints"}
    with open(DOCUMENT, encoding="utf-8") as handle:
        text = handle.read()
    narrowed = text.replace(
        "| `cells` | `checks`, `_layers`, `constraints`, `coupling`, `modules` |",
        "| `cells` | `checks` |",
    )
    assert narrowed != text
    document = tmp_path / "architecture.md"
    document.write_text(narrowed, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "DOCUMENT", str(document))
    with pytest.raises(AssertionError, match="cells"):
        test_every_import_of_the_library_follows_the_layers()
