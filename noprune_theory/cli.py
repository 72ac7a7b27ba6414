"""The ``noprune-theory`` command line.

Subcommands live in :mod:`noprune_theory.commands`, one module each, and are imported only when
they run: ``noprune-theory --help`` imports neither sympy nor numba. A command module defines a
:class:`click.Command` named ``command``; its short help is listed in :data:`COMMANDS` so that
the group's help needs no import at all.

Errors in the user's input (a click usage error, or a :class:`ValueError` raised by the API a
command calls) end with exit code 2 and a single line ``Error: <message>`` on stderr.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

import click

from noprune_theory import __version__

#: name -> short help. A command is offered when ``noprune_theory.commands.<name>`` exists.
COMMANDS = {
    "bound": "Lipschitz lower bounds of the dense [BS Thm 3] and sparse [NFP Thm 4] Law of "
             "Robustness.",
    "derive": "Print the derivation of the Lipschitz bound step by step (sympy) and verify it.",
    "mi": "Estimate I(X; Y) between the rows of X and Y.",
    "lipschitz": "Certified lower and upper bounds of the Lipschitz constants of saved networks.",
    "sim": "Run simulation NAME: every (grid point, seed) cell not yet in the results folder.",
    "plot": "Plot the results in FOLDER (a folder made by `noprune-theory sim`, holding "
            "config.json).",
    "info": "Print versions, which backends are usable (and if not, why), and what `auto` picks.",
}


def _module_name(name):
    return f"noprune_theory.commands.{name.replace('-', '_')}"


class LazyGroup(click.Group):
    """A group whose commands are imported when invoked, not when listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n in COMMANDS if importlib.util.find_spec(_module_name(n)) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or importlib.util.find_spec(_module_name(name)) is None:
            return None
        return importlib.import_module(_module_name(name)).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="noprune-theory")
def cli() -> None:
    """noprune-theory: the sparse Law of Robustness ("No Free Prune", Kumar, Luo & Sellke,
    ICML 2024) as numbers you can compute, check and reproduce.

    Start with `noprune-theory bound --n 1e4 --d 100`.
    """


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script; returns the exit code through SystemExit."""
    try:
        rv = cli.main(args=argv, prog_name="noprune-theory", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ValueError as exc:
        # the API's validation messages name the argument and the allowed range
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


def script_main(name: str, argv: list[str] | None = None) -> NoReturn:
    """Run simulation *name* from its own file: ``python sims/<name>.py --preset quick``.

    Parses the options exactly as ``noprune-theory sim <name>`` does (it *is* that command).
    """
    main(["sim", name, *(sys.argv[1:] if argv is None else argv)])
