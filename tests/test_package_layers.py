"""The command modules use the library through its public names only, and the simulation
package does not import the command line (which imports it)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted((ROOT / "noprune_theory" / "commands").glob("*.py"))


def _imported(path):
    """(module, name) for every ``from module import name`` in *path* (nested ones too)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_commands_use_public_library_names(path):
    private = []
    for module, name in _imported(path):
        parts = module.split(".")
        if parts[0] != "noprune_theory" or parts[1:2] == ["commands"]:
            continue  # other libraries, and the commands' own helpers
        if parts[1:2] == ["_validation"]:
            continue  # the package-wide argument checks
        if any(p.startswith("_") for p in parts[1:]) or name.startswith("_"):
            private.append(f"{module}.{name}")
    assert not private, f"{path.name} uses private members: {private}"


def test_public_names_the_commands_need_are_exported():
    from noprune_theory import estimators, sims, theory

    for mod, names in [
        (theory, ["bound_report", "format_bound_text", "format_bound_latex",
                  "format_derivation_text", "format_derivation_latex", "derivation"]),
        (estimators, ["log_base_divisor"]),
        (sims, ["FORMATS", "RESERVED_FIELDS", "check_parquet", "format_duration",
                "read_config", "result_folders"]),
    ]:
        for name in names:
            assert name in mod.__all__, (mod.__name__, name)
            assert getattr(mod, name).__doc__ or not callable(getattr(mod, name))


def test_importing_sims_does_not_import_the_command_line():
    code = ("import sys, noprune_theory.sims as s; "
            "assert 'noprune_theory.cli' not in sys.modules; "
            "assert 'script_main' not in s.__all__")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_simulation_scripts_run_the_command_line_from_cli():
    from noprune_theory import sims

    assert not hasattr(sims, "script_main")  # lives in the CLI module only: no sims -> cli edge
    for name in ["bound_check", "lipschitz_floor", "noise_correlation", "mask_information",
                 "random_width", "memorization", "shuffle_ablation"]:
        source = (ROOT / "sims" / f"{name}.py").read_text()
        assert "from noprune_theory.cli import script_main" in source, name
