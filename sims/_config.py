"""Typed simulation configs: fields, presets, sweep axes, the canonical hash.

Where this sits in the data flow: a simulation module declares its :class:`Field` s and
:func:`preset` s; :func:`resolve_config` merges field defaults < preset < TOML file < ``--set``
overrides into a :class:`RunConfig`, validating every value before any work starts. A field given
a *list* of values is a sweep axis; the runner expands the grid (grid points x seeds) and names
the results folder by :attr:`RunConfig.hash`.

Two settings are part of every config but are *not* hashed, because they say how to run, not
what to compute: ``seeds`` (how many seeds, ``0 .. seeds-1``; raising it later adds cells to the
same folder) and ``backend`` (resolved on the machine that runs each cell and recorded per cell).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from os import PathLike
from typing import TYPE_CHECKING, Any

from noprune_theory._validation import check_choice, check_scalar, describe_range
from noprune_theory.backend import CHOICES as BACKEND_CHOICES

if TYPE_CHECKING:
    from noprune_theory.sims._registry import Simulation

__all__ = [
    "BACKEND_CHOICES",
    "RESERVED_FIELDS",
    "Field",
    "Preset",
    "RunConfig",
    "canonical_json",
    "preset",
    "resolve_config",
]

#: Settings every simulation has; none enters the folder hash.
RESERVED_FIELDS = ("seeds", "backend", "memory_budget")
_KINDS = (int, float, str, bool)


@dataclass(frozen=True)
class Field:
    """One typed configuration value of a simulation.

    Parameters
    ----------
    default : int, float, str, bool or list
        The value when nothing else sets it. A list makes the field a sweep axis by default.
    help : str
        One line for ``--list`` and the docs; give the unit in it ("learning rate (1/step)").
    kind : {int, float, str, bool}, optional
        The type of one value; inferred from *default* when omitted.
    low, high : float, optional
        Allowed range of numeric values (inclusive unless ``low_inclusive``/``high_inclusive``
        say otherwise).
    low_inclusive, high_inclusive : bool, default True
        Whether the bounds themselves are allowed.
    choices : tuple of str, optional
        Allowed values of a ``str`` field.
    """

    default: Any
    help: str = ""
    kind: type | None = None
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple | None = None

    def __post_init__(self):
        kind = self.kind
        if kind is None:
            sample = self.default[0] if isinstance(self.default, (list, tuple)) else self.default
            kind = type(sample)
            object.__setattr__(self, "kind", kind)
        if kind not in _KINDS:
            raise TypeError(f"Field kind must be one of int, float, str, bool, got {kind!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def describe(self) -> str:
        """Describe the allowed values in words.

        Returns
        -------
        str
            For example ``"an integer >= 1"`` or ``"one of 'a', 'b'"``.
        """
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            if self.choices:
                return "one of " + ", ".join(repr(c) for c in self.choices)
            return "a string"
        word = "an integer" if self.kind is int else "a number"
        rng = describe_range(self.low, self.high, low_inclusive=self.low_inclusive,
                             high_inclusive=self.high_inclusive)
        return f"{word} {rng}"

    def convert(self, value: Any, name: str) -> Any:
        """Return one value checked and converted to :attr:`kind`.

        Parameters
        ----------
        value : int, float, str or bool
            The value, or its text (from ``--set`` or a TOML file).
        name : str
            The key's name, for the error message.

        Returns
        -------
        int, float, str or bool
            The value as :attr:`kind`.

        Raises
        ------
        ValueError
            Naming *name*, when the value is not allowed.
        """
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"{name} must be true or false, got {value!r}")
        if self.kind is str:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, got {value!r}")
            if self.choices is not None:
                check_choice(value, name, self.choices)
            return value
        number = check_scalar(value, name, integer=self.kind is int, low=self.low, high=self.high,
                              low_inclusive=self.low_inclusive,
                              high_inclusive=self.high_inclusive, text=True)
        # 1 and 1.0 must hash alike for a float field, and 1e4 is the integer 10000
        return int(number) if self.kind is int else float(number)


@dataclass(frozen=True)
class Preset:  # numpydoc ignore=PR01
    """A named set of field values with a one-line description (see :func:`preset`).

    Attributes
    ----------
    description : str
        One line for ``--list``: what the preset runs and its measured cost.
    values : dict
        Field name -> value (or list of values), applied over the field defaults.
    """

    description: str
    values: dict = dc_field(default_factory=dict)


def preset(description: str, **values: Any) -> Preset:
    """Make a preset: ``preset("CI-sized, 20 s on 2 cores", seeds=3, n=[10, 100])``.

    Parameters
    ----------
    description : str
        One line for ``--list``.
    **values
        Field values (``seeds`` included) the preset sets.

    Returns
    -------
    Preset
        The description and the values.
    """
    return Preset(description, dict(values))


def pruning_options(config: dict[str, Any], *, loss: str,
                    train_options: dict[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments of :func:`noprune_theory.pruning.prune` for a cell.

    One mapping for every simulation that prunes: the data-dependent methods get the cell's
    *loss* (IMP and magnitude after training also its *train_options*), and each method its
    own keys of *config* (``imp_fraction``, ``grasp_temperature``, ``synflow_iterations``).

    Parameters
    ----------
    config : dict
        The cell's grid point; ``method`` names the pruning method.
    loss : str
        The loss the simulation trains with.
    train_options : dict
        Keyword arguments of :func:`noprune_theory.training.train` for the trainings inside
        pruning.

    Returns
    -------
    dict
        Options for ``prune(model, config["method"], sparsity, **options)``.
    """
    method = config["method"]
    if method in ("imp", "magnitude_after_training"):
        opts = {"loss": loss, "train_options": train_options}
        if method == "imp":
            opts["fraction"] = config["imp_fraction"]
        return opts
    if method == "snip":
        return {"loss": loss}
    if method == "grasp":
        return {"loss": loss, "temperature": config["grasp_temperature"]}
    if method == "synflow":
        return {"iterations": config["synflow_iterations"]}
    return {}


def canonical_json(obj):
    """The canonical JSON text of *obj*: sorted keys, no spaces, floats by ``repr``."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _short_hash(obj, length=12):
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def _parse_text(text, key="value"):
    """A ``--set`` value: ``[1, 2]``, ``[imp, snip]`` or ``a,b,c`` is a list, else one item.

    Inside brackets, a TOML/JSON list is read as such; otherwise the items are the
    comma-separated words, with surrounding quotes removed (so ``[imp, "snip"]`` works too).
    """
    text = text.strip()
    if text.startswith("["):
        import tomllib

        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            pass
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
        if not text.endswith("]") or "[" in text[1:-1] or "]" in text[1:-1]:
            raise ValueError(f"cannot read the list {text!r} for {key}; write e.g. [1, 2, 3] "
                             f"or [imp, snip] (a flat list)")
        inner = text[1:-1]
        return [] if not inner.strip() else [_bare_item(part, text, key)
                                             for part in inner.split(",")]
    if "," in text:
        return [_bare_item(part, text, key) for part in text.split(",")]
    return text


def _bare_item(part, text, key):
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
        part = part[1:-1]
    if not part:
        raise ValueError(f"{key}: the list {text!r} has an empty item")
    return part


@dataclass(frozen=True)
class RunConfig:  # numpydoc ignore=PR01
    """A validated configuration of one simulation: what to compute, and how many seeds.

    Attributes
    ----------
    sim : str
        The simulation's name.
    values : dict
        Field name -> one value, or a list of values (a sweep axis), in the declared order.
    seeds : int
        Seeds ``0 .. seeds - 1`` are run for every grid point.
    backend : str
        The requested backend (``auto`` is resolved per cell, on the machine that runs it).
    cell_version : int or str or None
        Bumped by a simulation whose ``cell`` changed meaning; part of the hash.
    memory_budget : int or None
        MiB one batch of networks may take when cells train together (None: half the free
        memory); how the work is split, never what it computes, so not part of the hash.
    """

    sim: str
    values: dict
    seeds: int = 1
    backend: str = "auto"
    cell_version: Any = None
    memory_budget: int | None = None

    @property
    def axes(self) -> list[str]:
        """Names of the fields swept over (their value is a list), in declared order."""
        return [k for k, v in self.values.items() if isinstance(v, list)]

    def identity(self) -> dict[str, Any]:
        """Return what the results folder is named after: sim, hashed values, cell version.

        Returns
        -------
        dict
            ``sim``, ``config`` (the values) and ``cell_version`` when set.
        """
        ident = {"sim": self.sim, "config": self.values}
        if self.cell_version is not None:
            ident["cell_version"] = self.cell_version
        return ident

    @property
    def hash(self) -> str:
        """12 hex digits of SHA-256 of the canonical JSON of :meth:`identity`."""
        return _short_hash(self.identity())

    def points(self) -> Iterator[dict[str, Any]]:
        """Iterate over the grid points (the Cartesian product of the axes).

        Yields
        ------
        dict
            Field name -> one scalar value.
        """
        axes = self.axes
        lists = [self.values[a] for a in axes]
        for combo in itertools.product(*lists):
            point = dict(self.values)
            point.update(zip(axes, combo))
            yield point

    @property
    def n_points(self) -> int:
        """Number of grid points (the product of the axes' lengths)."""
        return math.prod(len(self.values[a]) for a in self.axes)

    def cells(self) -> Iterator[tuple[str, dict[str, Any], int]]:
        """Iterate over the cells: every grid point with every seed.

        Yields
        ------
        key : str
            Names the cell's file uniquely (a hash of the point and the seed).
        point : dict
            The grid point.
        seed : int
            The seed, ``0 .. seeds - 1``.
        """
        for point in self.points():
            ph = _short_hash(point, 16)
            for seed in range(self.seeds):
                yield f"{ph}-seed{seed:05d}", point, seed

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON written as ``config.json`` beside the results.

        Returns
        -------
        dict
            ``sim``, ``hash``, ``config``, ``axes``, ``seeds``, ``backend`` and
            ``cell_version`` when set.
        """
        out = {"sim": self.sim, "hash": self.hash, "config": self.values, "axes": self.axes,
               "seeds": self.seeds, "backend": self.backend}
        if self.cell_version is not None:
            out["cell_version"] = self.cell_version
        return out


def _convert_value(fields, sim_name, key, value, *, from_text):
    if key not in fields:
        valid = ", ".join(list(fields) + list(RESERVED_FIELDS))
        raise ValueError(f"unknown config key {key!r} for simulation {sim_name!r}; "
                         f"valid keys: {valid}")
    f = fields[key]
    if from_text and isinstance(value, str):
        value = _parse_text(value, key)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{key} must be {f.describe()} or a non-empty list of them, got []")
        items = [f.convert(v, key) for v in value]
        if len(set(items)) != len(items):
            # a repeated value would run (and store) the same cells twice
            raise ValueError(f"{key} lists a value more than once: {list(value)!r}")
        return items if len(items) > 1 else items[0]
    return f.convert(value, key)


def _convert_reserved(key, value):
    if key == "seeds":
        if isinstance(value, list):
            raise ValueError(f"seeds must be an integer >= 1 (a count), got {value!r}")
        return check_scalar(value, "seeds", integer=True, low=1, text=True)
    if key == "memory_budget":
        if isinstance(value, list):
            raise ValueError(f"memory_budget must be an integer >= 1 (MiB), got {value!r}")
        return check_scalar(value, "memory_budget", integer=True, low=1, text=True)
    if not isinstance(value, str):
        raise ValueError(f"backend must be one of {BACKEND_CHOICES}, got {value!r}")
    return check_choice(value, "backend", BACKEND_CHOICES)


def resolve_config(sim: Simulation | str, *, preset: str | None = None,
                   file: str | PathLike[str] | None = None, sets: Iterable[str] = (),
                   seeds: int | None = None, backend: str | None = None,
                   memory_budget: int | None = None) -> RunConfig:
    """Merge and validate a simulation's configuration.

    Parameters
    ----------
    sim : Simulation
        From :func:`noprune_theory.sims.get_simulation`.
    preset : str, optional
        Name of one of ``sim.presets``; ``"default"`` (unless the simulation declares a preset
        of that name) is the field defaults, the same as no preset.
    file : str or path, optional
        A TOML file of ``key = value`` lines (a list value is a sweep axis).
    sets : iterable of str
        ``"key=value"`` overrides, applied last; ``key=1,2,3`` or ``key=[1, 2, 3]`` sweeps.
    seeds : int, optional
        Number of seeds (overrides everything else).
    backend : {"auto", "numpy", "numba", "cupy"}, optional
        Overrides everything else.
    memory_budget : int >= 1, optional
        MiB per batch of networks (see :func:`~noprune_theory.sims.run_simulation`); overrides
        everything else. Not part of the hash.

    Returns
    -------
    RunConfig
        The validated configuration.

    Raises
    ------
    ValueError
        Unknown preset (listing them), unknown key (listing the valid ones), a value of the
        wrong type or out of range (naming the key and the range), an unreadable file.

    Examples
    --------
    >>> from noprune_theory.sims import get_simulation, resolve_config
    >>> cfg = resolve_config(get_simulation("lipschitz_floor"), sets=["n=10,20", "d=3"], seeds=2)
    >>> cfg.axes, cfg.n_points, len(list(cfg.cells()))
    (['n'], 2, 4)
    """
    fields = sim.fields
    values = {}
    for k, f in fields.items():
        values[k] = _convert_value(fields, sim.name, k, f.default, from_text=False)
    run = {"seeds": 1, "backend": "auto", "memory_budget": None}

    def apply(mapping, from_text):
        for k, v in mapping.items():
            if k in RESERVED_FIELDS:
                run[k] = _convert_reserved(k, v)
            else:
                values[k] = _convert_value(fields, sim.name, k, v, from_text=from_text)

    if preset is not None and not (preset == "default" and "default" not in sim.presets):
        # "default" names the field defaults (what runs without a preset) unless a simulation
        # declares its own preset of that name
        if preset not in sim.presets:
            known = ", ".join(["default", *sim.presets])
            raise ValueError(f"unknown preset {preset!r} for simulation {sim.name!r}; "
                             f"presets: {known}")
        apply(sim.presets[preset].values, False)
    if file is not None:
        import tomllib

        try:
            with open(file, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ValueError(f"cannot read config file {file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {file} is not valid TOML: {exc}") from None
        for k, v in data.items():
            if isinstance(v, dict):
                raise ValueError(f"config file {file}: {k!r} is a table; write plain "
                                 f"'key = value' lines (a list sweeps)")
        apply(data, False)
    parsed = {}
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        if k.strip() in parsed:
            # the later value would silently win: the user meant one of them, or a sweep
            raise ValueError(f"--set gives {k.strip()} more than once ({k.strip()}="
                             f"{parsed[k.strip()]} and {item}); to sweep it write "
                             f"{k.strip()}=[{parsed[k.strip()].strip()}, {v.strip()}]")
        parsed[k.strip()] = v
    apply(parsed, True)
    if seeds is not None:
        run["seeds"] = _convert_reserved("seeds", seeds)
    if backend is not None:
        run["backend"] = _convert_reserved("backend", backend)
    if memory_budget is not None:
        run["memory_budget"] = _convert_reserved("memory_budget", memory_budget)
    return RunConfig(sim=sim.name, values=values, seeds=run["seeds"], backend=run["backend"],
                     cell_version=sim.cell_version, memory_budget=run["memory_budget"])
