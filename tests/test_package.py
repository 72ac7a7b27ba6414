"""The package installs, imports lightly, and its command line behaves."""
import json
import subprocess
import sys

from noprune_theory.cli import COMMANDS


def run_cli(*args):
    # run outside the checkout: there ``python -m`` would find the source folder first
    import tempfile

    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run(
            [sys.executable, "-m", "noprune_theory", *args], capture_output=True, text=True,
            cwd=cwd,
        )


def test_subpackages_import_under_package_namespace():
    import noprune_theory.kernels
    import noprune_theory.sims

    assert noprune_theory.kernels.__name__ == "noprune_theory.kernels"
    assert noprune_theory.sims.__name__ == "noprune_theory.sims"


def test_import_is_light():
    code = (
        "import sys, noprune_theory, noprune_theory.backend, noprune_theory.cli;"
        "heavy = [m for m in ('sympy', 'numba', 'cupy', 'scipy', 'matplotlib', 'dask')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_needs_no_sympy():
    code = (
        "import sys\nfrom noprune_theory.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'sympy' not in sys.modules and 'numba' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "info" in out.stdout


def test_info_json_reports_backends():
    out = run_cli("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert set(info["backends"]) == {"numpy", "numba", "cupy"}
    assert info["auto"] in ("numpy", "numba", "cupy")
    if not info["backends"]["cupy"]["usable"]:
        assert info["auto"] != "cupy"
        assert info["backends"]["cupy"]["reason"]


def test_unknown_command_exits_2_with_one_line():
    out = run_cli("no-such-command")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith("Error:")


def test_registry_short_help_matches_command_help():
    # the group's help is read from COMMANDS without importing; keep it true to the commands
    import click

    from noprune_theory.cli import cli

    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
        # the listing shows COMMANDS[name]; it must be the command's own first sentence
        assert COMMANDS[name] == cmd.get_short_help_str(limit=10_000)
