"""Finding simulations: the modules of :mod:`noprune_theory.sims` and registered functions.

A simulation is either

* a module in ``sims/`` (not starting with ``_``) that defines ``FIELDS`` (name -> :class:`Field`)
  and ``cell(config, seed) -> dict``, and optionally ``PRESETS``, ``plot(table, config, outdir)``,
  ``DESCRIPTION`` (else the first line of the module docstring), ``CELL_VERSION`` and
  ``check_config(config)`` (raises ValueError for a config its cells cannot run, e.g. a
  missing optional dependency or a bad data file; the ``sim`` command calls it on every grid
  point before the first cell); or
* a function decorated with :func:`register_simulation` (tests, notebooks, user packages); or
* any importable module following the module protocol, named by its dotted path
  (``noprune-theory sim mypackage.mysim``).

Modules are imported only to list or run them; they keep heavy imports inside ``cell``.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from types import ModuleType
from typing import Any

from noprune_theory.sims._config import RESERVED_FIELDS, Field, Preset

__all__ = ["Simulation", "get_simulation", "list_simulations", "register_simulation"]

_REGISTERED: dict[str, Simulation] = {}
_PACKAGE = "noprune_theory.sims"


@dataclass(frozen=True)
class Simulation:  # numpydoc ignore=PR01
    """Everything the runner needs to know about one simulation.

    Attributes
    ----------
    name : str
        The name ``noprune-theory sim`` takes.
    description : str
        One line.
    fields : dict of str -> Field
        The config fields, by name.
    presets : dict of str -> Preset
        Named sets of field values.
    cell : callable
        ``cell(config, seed) -> dict``, a pure function of its arguments; *config* holds one
        value per field plus ``backend`` (the concrete backend name).
    plot : callable or None
        ``plot(table, config, outdir) -> Figure or dict of stem -> Figure``; *table* is the
        :class:`pandas.DataFrame` of :func:`~noprune_theory.sims.load_results`.
    module : str
        Importable module that defines it (the plot command finds the simulation through it).
    cell_version : int, str or None
        Part of the results hash; bump it when ``cell`` changes what it computes.
    check : callable or None
        ``check(config)``: raises ValueError when the cells of *config* (one grid point, as
        ``cell`` gets it) cannot run; called before the first cell.
    """

    name: str
    description: str
    fields: dict[str, Field]
    presets: dict[str, Preset] = dc_field(default_factory=dict)
    cell: Callable | None = None
    plot: Callable | None = None
    module: str = ""
    cell_version: Any = None
    check: Callable | None = None


def _check_spec(name, fields, presets):
    if not isinstance(fields, dict) or not all(isinstance(f, Field) for f in fields.values()):
        raise TypeError(f"simulation {name!r}: FIELDS must map names to Field objects")
    for k in fields:
        if k in RESERVED_FIELDS:
            raise TypeError(f"simulation {name!r}: field name {k!r} is reserved "
                            f"({', '.join(RESERVED_FIELDS)} exist for every simulation)")
    out = {}
    for pname, p in (presets or {}).items():
        out[pname] = p if isinstance(p, Preset) else Preset("", dict(p))
    return out


def register_simulation(name: str | None = None, *, fields: dict[str, Field],
                        presets: dict[str, Preset | dict[str, Any]] | None = None,
                        description: str = "", plot: Callable[..., Any] | None = None,
                        cell_version: int | str | None = None,
                        ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a decorator registering ``cell(config, seed)`` as a simulation.

    Parameters
    ----------
    name : str, optional
        Defaults to the function's name.
    fields : dict of str -> Field
        The config fields, by name (not the reserved names, such as ``seeds``).
    presets : dict of str -> Preset or dict, optional
        Named sets of field values (a plain dict becomes a :class:`Preset` without description).
    description : str
        One line shown by ``noprune-theory sim --list``.
    plot : callable, optional
        ``plot(table, config, outdir)``.
    cell_version : int or str, optional
        Part of the results hash; bump it when ``cell`` changes what it computes.

    Returns
    -------
    callable
        The decorator: it registers the function (also as its attribute ``simulation``) and
        returns it unchanged.

    Notes
    -----
    With a Dask cluster, workers import the decorated function by its module, so define it in
    an importable module (not in ``__main__`` of a script run elsewhere).

    Examples
    --------
    >>> from noprune_theory.sims import Field, register_simulation
    >>> @register_simulation("square_doc", fields={"x": Field(2.0, "input")},
    ...                      description="Squares x.")
    ... def square(config, seed):
    ...     return {"y": config["x"] ** 2}
    >>> get_simulation("square_doc").cell({"x": 3.0}, 0)
    {'y': 9.0}
    """

    def decorate(cell):
        sim_name = name or cell.__name__
        sim = Simulation(
            name=sim_name, description=description, fields=dict(fields),
            presets=_check_spec(sim_name, fields, presets), cell=cell, plot=plot,
            module=cell.__module__, cell_version=cell_version,
        )
        _REGISTERED[sim_name] = sim
        cell.simulation = sim
        return cell

    return decorate


def simulation_from_module(module: ModuleType, name: str | None = None) -> Simulation:
    """Build a :class:`Simulation` from a module following the module protocol."""
    name = name or module.__name__.rsplit(".", 1)[-1]
    fields = module.FIELDS
    presets = _check_spec(name, fields, getattr(module, "PRESETS", {}))
    desc = getattr(module, "DESCRIPTION", None)
    if desc is None:
        desc = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return Simulation(name=name, description=desc, fields=dict(fields), presets=presets,
                      cell=module.cell, plot=getattr(module, "plot", None),
                      module=module.__name__, cell_version=getattr(module, "CELL_VERSION", None),
                      check=getattr(module, "check_config", None))


def _is_sim_module(module):
    return callable(getattr(module, "cell", None)) and isinstance(getattr(module, "FIELDS", None),
                                                                  dict)


def _package_names():
    pkg = importlib.import_module(_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_") and not m.ispkg)


def list_simulations() -> list[Simulation]:
    """List all known simulations: package modules, then registered ones.

    Returns
    -------
    list of Simulation
        Sorted by name; a registered simulation replaces a module of the same name.
    """
    found = {}
    for mod_name in _package_names():
        module = importlib.import_module(f"{_PACKAGE}.{mod_name}")
        if _is_sim_module(module):
            found[mod_name] = simulation_from_module(module)
    found.update(_REGISTERED)
    return [found[k] for k in sorted(found)]


def get_simulation(name: str) -> Simulation:
    """Find the simulation called *name*.

    Parameters
    ----------
    name : str
        A module of ``noprune_theory.sims``, a name registered with :func:`register_simulation`,
        a dotted importable module following the module protocol, or ``"module:name"`` for a
        simulation that *module* registers when imported.

    Returns
    -------
    Simulation
        Its fields, presets, cell and plot functions.

    Raises
    ------
    ValueError
        When no simulation has that name; the message lists the known ones.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"simulation name must be a non-empty string, got {name!r}")
    if ":" in name:
        # "package.module:sim" imports the module, which registers "sim" with the decorator
        mod_name, _, sim_name = name.partition(":")
        try:
            importlib.import_module(mod_name)
        except ImportError as exc:
            raise ValueError(f"cannot import simulation module {mod_name!r}: {exc}") from None
        name = sim_name
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _package_names():
        module = importlib.import_module(f"{_PACKAGE}.{name}")
        if _is_sim_module(module):
            return simulation_from_module(module)
    if "." in name:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ValueError(f"cannot import simulation module {name!r}: {exc}") from None
        if _is_sim_module(module):
            return simulation_from_module(module, name=name)
        registered_here = [s for s in _REGISTERED.values() if s.module == name]
        if len(registered_here) == 1:
            return registered_here[0]
    known = ", ".join(s.name for s in list_simulations()) or "(none)"
    raise ValueError(f"unknown simulation {name!r}; known: {known}")
