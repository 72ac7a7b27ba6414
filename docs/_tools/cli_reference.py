"""Write docs/cli.md: the ``--help`` of the group and of every command, as the code prints it.

Run ``python docs/_tools/cli_reference.py`` after changing a command; a test fails while the
page is stale, so the site can never disagree with ``--help``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

HEADER = """# Command-line reference

Every command and option of `noprune-theory`, exactly as `--help` prints it (this page is
generated from the code by `docs/_tools/cli_reference.py`; a test keeps it current).
"""


def help_text(path):
    """The --help text of ``noprune-theory <path...>`` at a fixed terminal width."""
    from noprune_theory.cli import cli

    ctx = click.Context(cli, info_name="noprune-theory", terminal_width=100,
                        max_content_width=100, **cli.context_settings)
    cmd = cli
    for name in path:
        sub = cmd.get_command(ctx, name)
        ctx = click.Context(sub, info_name=name, parent=ctx, terminal_width=100,
                            max_content_width=100, **sub.context_settings)
        cmd = sub
    return cmd.get_help(ctx)


def render():
    from noprune_theory.cli import cli

    parts = [HEADER, "## noprune-theory\n", "```text", help_text([]), "```\n"]
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        parts += [f"## noprune-theory {name}\n", "```text", help_text([name]), "```\n"]
    return "\n".join(parts)


def main():
    out = Path(__file__).resolve().parent.parent / "cli.md"
    out.write_text(render())
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
