"""Public docstrings pass numpydoc validation; the public API is typed and ships ``py.typed``.

The public objects are each API module's ``__all__`` and the public methods and properties of
its classes: the names the API reference documents. The checks enforced are
``ENFORCED_CHECKS`` of ``docs/_tools/numpydoc_checks.py``, the set the docs build validates
with (``docs/conf.py``), so a docstring that fails here also fails ``sphinx-build -W``.
"""
from __future__ import annotations

import ast
import importlib
import importlib.resources
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")
docscrape = pytest.importorskip("numpydoc.docscrape")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: the modules of the API reference (docs/_tools/api_reference.py)
API_MODULES = [
    "noprune_theory.theory",
    "noprune_theory.data",
    "noprune_theory.models",
    "noprune_theory.training",
    "noprune_theory.pruning",
    "noprune_theory.estimators",
    "noprune_theory.sims",
    "noprune_theory.backend",
]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = _load("numpydoc_checks", DOCS / "_tools" / "numpydoc_checks.py")


def _public_objects():
    """``{dotted name: object}`` of every public function, class, method and property."""
    found = {}
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.isupper():  # constants: shown with their values, no docstring of their own
                continue
            obj = getattr(module, name)
            found[f"{module_name}.{name}"] = obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if inspect.isfunction(value) or isinstance(
                            value, (property, classmethod, staticmethod)):
                        found[f"{module_name}.{name}.{attr}"] = value
    return found


PUBLIC = _public_objects()


def _enforced_errors(doc):
    """The enforced ``(code, message)`` errors of numpydoc's validation of *doc*."""
    report = numpydoc_validate.validate(doc)
    return [(code, msg) for code, msg in report["errors"] if code in CHECKS.ENFORCED_CHECKS]


@pytest.fixture(scope="module")
def failures():
    """``{(name, code): message}`` of every enforced check a public object fails."""
    out = {}
    for name in PUBLIC:
        for code, msg in _enforced_errors(name):
            out.setdefault((name, code), msg)
    return out


def test_public_docstrings_pass_the_enforced_checks(failures):
    new = {pair: msg for pair, msg in failures.items() if pair not in CHECKS.ALLOWED_FAILURES}
    assert not new, "numpydoc validation fails (fix the docstring):\n" + "\n".join(
        f"  {name} {code}: {msg}" for (name, code), msg in sorted(new.items()))


def test_allow_list_has_no_fixed_entries(failures):
    # a pair that passes now must leave the list, so that the list can only shrink
    fixed = sorted(set(CHECKS.ALLOWED_FAILURES) - set(failures))
    assert not fixed, ("these allowed failures pass now; remove them from ALLOWED_FAILURES in "
                       "docs/_tools/numpydoc_checks.py:\n"
                       + "\n".join(f"  {name} {code}" for name, code in fixed))


def _source_file(obj):
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return Path(inspect.getsourcefile(inspect.unwrap(obj))).resolve()


def test_allow_list_names_known_checks_and_objects_of_the_allowed_files():
    allowed_files = {(ROOT / f).resolve() for f in CHECKS.ALLOWED_FILES}
    for name, code in CHECKS.ALLOWED_FAILURES:
        assert code in CHECKS.ENFORCED_CHECKS, (name, code)
        assert name in PUBLIC, f"{name} is not a public object"
        assert _source_file(PUBLIC[name]) in allowed_files, (
            f"{name} is defined outside ALLOWED_FILES: fix its docstring instead")


def test_the_validation_catches_a_bad_docstring():
    def bad(x, y, z):
        """returns the sum.

        Parameters
        ----------
        y : float
            the second.
        x
            The first.
        z : int
        """
        return x + y + z

    codes = {code for code, _ in _enforced_errors(docscrape.get_doc_object(bad))}
    assert {"SS02", "SS05", "PR03", "PR04", "PR07", "PR08", "RT01"} <= codes, codes


def test_docs_build_validates_the_same_checks(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # conf.py adds docs/_tools to the path
    conf = _load("docs_conf", DOCS / "conf.py")
    assert conf.numpydoc_validation_checks == set(CHECKS.ENFORCED_CHECKS)
    assert "numpydoc" in conf.extensions
    # the build skips exactly the allow-listed objects, none other
    patterns = [re.compile(p) for p in conf.numpydoc_validation_exclude]
    excluded = {name for name in PUBLIC if any(p.search(name) for p in patterns)}
    assert excluded == {name for name, _ in CHECKS.ALLOWED_FAILURES}


# ---------------------------------------------------------------------------------------------
# numpydoc's ``# numpydoc ignore=PR01`` comment is used for one thing only: a result class
# (dataclass or NamedTuple) whose fields are documented as Attributes, not as constructor
# Parameters. Every field must then be documented.

def _is_record(cls):
    return inspect.isclass(cls) and (
        hasattr(cls, "__dataclass_fields__")
        or (issubclass(cls, tuple) and hasattr(cls, "_fields")))


def _fields(cls):
    if hasattr(cls, "__dataclass_fields__"):
        return list(cls.__dataclass_fields__)
    return list(cls._fields)


def _documented_names(cls):
    doc = docscrape.ClassDoc(cls)
    names = set()
    for section in ("Attributes", "Parameters"):
        for item in doc[section]:
            names.update(n.strip() for n in item.name.split(","))
    return names


@pytest.mark.parametrize("name", sorted(n for n, o in PUBLIC.items() if _is_record(o)))
def test_record_classes_document_every_field(name):
    if (name, "PR01") in CHECKS.ALLOWED_FAILURES:
        pytest.skip("allow-listed for PR01")
    cls = PUBLIC[name]
    missing = [f for f in _fields(cls) if f not in _documented_names(cls)]
    assert not missing, f"{name}: fields not documented under Attributes: {missing}"


def test_ignore_comments_only_skip_pr01_of_record_classes():
    pattern = re.compile(r"#\s*numpydoc ignore[=:]\s*(.+)")
    seen = []
    for path in sorted((ROOT / "noprune_theory").rglob("*.py")) + sorted(
            (ROOT / "sims").glob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            match = pattern.search(line)
            if not match:
                continue
            where = f"{path.relative_to(ROOT)}:{lineno}"
            assert match.group(1).strip() == "PR01", f"{where}: only PR01 may be ignored"
            decl = re.match(r"\s*class (\w+)", line)
            assert decl, f"{where}: the comment belongs on a class line"
            seen.append(decl.group(1))
    records = {n.rsplit(".", 1)[-1] for n, o in PUBLIC.items() if _is_record(o)}
    assert seen and set(seen) <= records, set(seen) - records


# ---------------------------------------------------------------------------------------------
# Type hints: the package is typed (PEP 561) and the public API of these modules is annotated.

#: modules whose public callables must be fully annotated (the API modules' own files are
#: listed through their package; the rest are read from the modules themselves)
TYPED_PACKAGES = ["noprune_theory.theory", "noprune_theory.pruning", "noprune_theory.estimators",
                  "noprune_theory.models", "noprune_theory.training", "noprune_theory.backend",
                  "noprune_theory.data", "noprune_theory.sims"]
TYPED_SIMS_MODULES = ["noprune_theory.sims._plotting", "noprune_theory.sims._registry"]
TYPED_CLI_MODULES = [
    "noprune_theory.cli",
    *(f"noprune_theory.commands.{p.stem}"
      for p in sorted((ROOT / "noprune_theory" / "commands").glob("*.py"))
      if p.stem != "__init__"),
]
#: API objects defined in files typed separately (their owners annotate them)
UNTYPED_FILES: set[str] = set()


def _unannotated(func):
    """Names of *func*'s parameters without an annotation, plus ``"return"`` if unannotated."""
    sig = inspect.signature(func)
    missing = [name for name, p in sig.parameters.items()
               if name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _callables_of(name, obj):
    """``(name, function)`` pairs to check for *obj*: itself, or a class's public methods."""
    import click

    if isinstance(obj, click.Command):
        return [(f"{name}.callback", obj.callback)]
    if callable(obj) and hasattr(obj, "__wrapped__"):  # functools.cache and other wrappers
        obj = inspect.unwrap(obj)
    if inspect.isfunction(obj):
        return [(name, obj)]
    if not inspect.isclass(obj):
        return []
    out = []
    for attr, value in vars(obj).items():
        if attr.startswith("_") and attr != "__init__":
            continue
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        if inspect.isfunction(value):
            out.append((f"{name}.{attr}", value))
    return out


def _typed_api():
    pairs = []
    for package in TYPED_PACKAGES:
        module = importlib.import_module(package)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if attr.isupper() or not callable(obj):
                continue
            source = inspect.getsourcefile(inspect.unwrap(obj))
            if Path(source).name in UNTYPED_FILES:
                continue
            pairs += _callables_of(f"{package}.{attr}", obj)
    for module_name in TYPED_SIMS_MODULES:
        module = importlib.import_module(module_name)
        for attr in module.__all__:
            pairs += _callables_of(f"{module_name}.{attr}", getattr(module, attr))
    for module_name in TYPED_CLI_MODULES:
        module = importlib.import_module(module_name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            pairs += _callables_of(f"{module_name}.{attr}", obj)
    return pairs


TYPED = _typed_api()


def test_public_callables_are_annotated():
    assert len(TYPED) > 100  # the collection itself works
    missing = {name: m for name, func in TYPED if (m := _unannotated(func))}
    assert not missing, "add type hints:\n" + "\n".join(
        f"  {name}: {', '.join(m)}" for name, m in sorted(missing.items()))


def test_annotation_check_catches_a_missing_hint():
    def half(x: float, y) -> float:
        return x

    def no_return(x: float):
        return x

    assert _unannotated(half) == ["y"]
    assert _unannotated(no_return) == ["return"]


def test_typed_modules_postpone_annotations():
    # ``from __future__ import annotations``: hints of optional libraries (matplotlib, the
    # models) cost no import at run time
    files = [ROOT / "noprune_theory" / sub for sub in ("theory", "pruning", "estimators",
                                                        "commands")]
    paths = [p for folder in files for p in sorted(folder.glob("*.py"))]
    paths += [ROOT / "noprune_theory" / name for name in ("cli.py", "models.py", "training.py",
                                                          "backend.py", "data.py")]
    paths += [ROOT / "sims" / name for name in ("_plotting.py", "_registry.py", "_config.py",
                                                "_store.py", "_runner.py")]
    missing = []
    for path in paths:
        if path.name in UNTYPED_FILES or path.name == "_generated.py":
            continue
        tree = ast.parse(path.read_text())
        if not any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                   and any(a.name == "annotations" for a in node.names) for node in tree.body):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, missing


def test_py_typed_marker_is_installed():
    marker = importlib.resources.files("noprune_theory").joinpath("py.typed")
    assert marker.is_file()


def test_py_typed_marker_is_in_the_build(monkeypatch):
    # what setup.py hands to build_py: the marker is package data of the wheel and the sdist
    # setuptools first: importing it puts its own distutils in place of the standard one
    import setuptools  # noqa: F401, I001
    from distutils.core import run_setup

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    dist = run_setup(str(ROOT / "setup.py"), stop_after="init")
    build_py = dist.get_command_obj("build_py")
    build_py.ensure_finalized()
    shipped = {(package, name) for package, _, _, names in build_py.data_files
               for name in names}
    assert ("noprune_theory", "py.typed") in shipped
