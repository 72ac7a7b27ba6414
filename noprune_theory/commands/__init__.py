"""One module per CLI subcommand, each defining a :class:`click.Command` named ``command``.

Modules here import heavy libraries (sympy, numba, cupy) inside the command's body, never at
module level, so that listing and ``--help`` stay fast.
"""
from __future__ import annotations
