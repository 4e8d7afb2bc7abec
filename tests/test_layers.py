"""The package's layering (DESIGN.md, docs/formats.md's layout): every import, inside
functions too, goes to the module's own layer or one below; detector, boundary and phantoms
never import each other."""

import ast
from pathlib import Path

import pytest

import napari_msdl

LAYERS = [
    {"geometry", "_io", "_progress"},
    {"volume", "mesh", "valve", "dataset"},
    {"sparse"},
    {"detector", "boundary", "phantoms"},
    {"bundle"},
    {"pipeline"},
    {"training", "evaluation"},
    {"cli", "_napari"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
SIBLINGS = {"detector", "boundary", "phantoms"}
PACKAGE = Path(napari_msdl.__file__).parent


def _part(path: Path, root: Path = PACKAGE) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def _targets(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, top-level part) of every napari_msdl import in a module, relative ones
    resolved against the module's own package."""
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:-node.level]
                names = [".".join([*base, *([node.module] if node.module else [])])]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "napari_msdl" and len(bits) > 1:
                out.append((node.lineno, bits[1]))
    return out


def wrong_way_imports(root: Path = PACKAGE) -> list[str]:
    """Every import against the layering, as ``file:line part -> part``."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        part = _part(path, root)
        if part == "__init__":
            continue
        module = ".".join(("napari_msdl", *path.relative_to(root).with_suffix("").parts))
        for line, target in _targets(ast.parse(path.read_text()), module):
            if target not in RANK:
                continue
            if RANK[target] > RANK[part] or (part in SIBLINGS and target in SIBLINGS
                                             and target != part):
                bad.append(f"{path.relative_to(root)}:{line} {part} -> {target}")
    return bad


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(p) for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert parts - {"__init__"} == set(RANK)


def test_no_import_goes_against_the_layering():
    assert wrong_way_imports() == []


@pytest.mark.parametrize("source, where", [
    ("def f():\n    from napari_msdl.training import train_bundle\n", "detector"),
    ("from napari_msdl.phantoms.anatomy import x\n", "boundary"),
    ("from ..bundle import load_bundle\n", "detector"),
])
def test_the_check_finds_a_wrong_way_import(tmp_path, source, where):
    """Break the layering in a copy of the package: the check must see it (inside a
    function, across siblings, relative)."""
    import shutil

    copy = tmp_path / "napari_msdl"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("models", "sample_data",
                                                                 "__pycache__"))
    (copy / where / "_broken.py").write_text(source)
    assert len(wrong_way_imports(copy)) == 1
