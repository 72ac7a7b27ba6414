"""``noprune-theory sim``: run a simulation's grid of cells, resumably, here or on Dask."""
from __future__ import annotations

from typing import Any

import click

from noprune_theory.backend import CHOICES as BACKEND_CHOICES
from noprune_theory.commands._types import Number, dump_json


class NonEmptyPath(click.Path):
    """A path that must not be empty (``--out ''`` would silently mean the current folder)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("must not be empty", param, ctx)
        return super().convert(value, param, ctx)


def check_output_file(path: str, option: str) -> None:
    """Raise click.BadParameter unless *path* can be written (its folder exists, is writable).

    Checked before a run, so that a long run does not end in an unwritable export.
    """
    import os
    from pathlib import Path

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise click.BadParameter(f"{path} is a folder; give a file name",
                                 param_hint=f"'{option}'")
    if not parent.is_dir():
        raise click.BadParameter(f"folder {parent} does not exist; create it first",
                                 param_hint=f"'{option}'")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise click.BadParameter(f"{path} cannot be written (permission denied)",
                                 param_hint=f"'{option}'")


_RESERVED_HELP = {
    "seeds": ("number of seeds per grid point, seeds 0..N-1 (not hashed)", "int", "1",
              "an integer >= 1"),
    "backend": ("array backend of the cells, resolved on each worker (not hashed)", "str",
                "auto", "one of " + ", ".join(repr(c) for c in BACKEND_CHOICES)),
    "memory_budget": ("MiB one batch of networks may take when cells of one shape train "
                      "together (not hashed)", "int", "half the free memory (of the GPU on "
                      "cupy)", "an integer >= 1"),
}


def _field_rows(sim):
    """``(key, description)`` rows: meaning, type, default and allowed values of every key."""
    from noprune_theory.sims import RESERVED_FIELDS

    rows = []
    for k, f in sim.fields.items():
        default = dump_json(f.default) if not isinstance(f.default, str) else f.default
        sweep = " (a list: swept)" if isinstance(f.default, list) else ""
        rows.append((k, (f"{f.help or '(no description)'}. Type {f.kind.__name__}, default "
                         f"{default}{sweep}; allowed: {f.describe()}.")))
    for k in RESERVED_FIELDS:  # settings every simulation has
        meaning, kind, default, allowed = _RESERVED_HELP.get(
            k, ("a setting of every simulation", "", "", ""))
        rows.append((k, f"{meaning}." + (f" Type {kind}, default {default}; allowed: "
                                          f"{allowed}." if kind else "")))
    return rows


def _preset_rows(sim):
    """``(name, description)`` of the presets, with ``default`` (what runs without --preset)."""
    from noprune_theory.sims import resolve_config

    rows = []
    if "default" not in sim.presets:
        cfg = resolve_config(sim)
        rows.append(("default", (f"the field defaults, what runs without --preset "
                                 f"({cfg.n_points} grid point{'s' * (cfg.n_points != 1)} x "
                                 f"{cfg.seeds} seed{'s' * (cfg.seeds != 1)})")))
    rows += [(name, p.description or "(no description)") for name, p in sim.presets.items()]
    return rows


def _list_simulations(name=None):
    from noprune_theory.sims import get_simulation, list_simulations

    sims = [get_simulation(name)] if name else list_simulations()
    for sim in sims:
        click.echo(f"{sim.name}  {sim.description}")
        for pname, text in _preset_rows(sim):
            click.echo(f"    --preset {pname:<8} {text}")
        if name:
            click.echo("    keys (--set KEY=VALUE; KEY=[a, b] sweeps):")
            for key, text in _field_rows(sim):
                click.echo(f"      {key:<14} {text}")
        else:
            fields = ", ".join(sim.fields)
            click.echo(f"    keys: {fields}, seeds, backend  (details: --list {sim.name})")


class SimCommand(click.Command):
    """``sim NAME --help`` adds NAME's keys and presets to the generic help."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(a in ("--help", "-h") for a in args):
            try:
                opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
            except click.ClickException:
                opts = {}
            name = opts.get("name")
            # click 8.3+ gives a sentinel object, not None, for an argument not given
            ctx.meta["sim_help_name"] = name if isinstance(name, str) else None
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        name = ctx.meta.get("sim_help_name")
        if not name:
            return
        from noprune_theory.sims import get_simulation

        try:
            sim = get_simulation(name)
        except ValueError as exc:
            with formatter.section(f"Simulation {name}"):
                formatter.write_text(str(exc))
            return
        with formatter.section(f"Keys of {sim.name} (--set KEY=VALUE; KEY=[a, b] sweeps)"):
            formatter.write_dl(_field_rows(sim))
        with formatter.section(f"Presets of {sim.name} (--preset NAME)"):
            formatter.write_dl(_preset_rows(sim))


@click.command("sim", cls=SimCommand)
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True,
              help="List the simulations and their presets; with NAME, that one and its keys.")
@click.option("--preset", help="A preset of the simulation (see --list), e.g. quick, paper; "
                               "default is the field defaults.")
@click.option("--config", "config_file", type=NonEmptyPath(dir_okay=False),
              help="TOML file of key = value lines (a list value sweeps that key).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one key; KEY=1,2,3 or KEY=[1,2,3] sweeps it (words need no "
                   "quotes: KEY=[imp,snip]). Repeatable.")
@click.option("--seeds", type=Number(integer=True, low=1),
              help="Number of seeds per grid point (seeds 0..N-1).")
@click.option("--out", default="results", show_default=True, type=NonEmptyPath(file_okay=False),
              help="Root folder; results go to OUT/<sim>/<config hash>/.")
@click.option("--backend", type=click.Choice(list(BACKEND_CHOICES)),
              help="Array backend for the cells (auto is resolved on each worker).")
@click.option("--workers", type=Number(integer=True, low=1),
              help="Run on a new Dask LocalCluster with this many worker processes.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run on a running Dask cluster (e.g. dask-cuda, one worker per GPU).")
@click.option("--memory-budget", type=Number(integer=True, low=1), metavar="MIB",
              help="MiB one batch of networks may take when cells train together "
                   "(default: half the free memory, of the GPU on cupy).")
@click.option("--csv", "csv_path", type=NonEmptyPath(dir_okay=False),
              help="After the run, write every finished cell of the folder to this CSV file.")
@click.option("--parquet", "parquet_path", type=NonEmptyPath(dir_okay=False),
              help="After the run, write the table as Parquet (needs pyarrow: the [analysis] "
                   "extra).")
@click.option("--dry-run", is_flag=True,
              help="Print the resolved config and the cell count only (and check the folder).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def command(name: str | None, list_: bool, preset: str | None, config_file: str | None,
            sets: tuple[str, ...], seeds: int | None, out: str, backend: str | None,
            workers: int | None, scheduler: str | None, memory_budget: int | None,
            csv_path: str | None, parquet_path: str | None, dry_run: bool,
            quiet: bool) -> None:
    """Run simulation NAME: every (grid point, seed) cell not yet in the results folder.

    In-process by default; --workers N starts a local Dask cluster, --scheduler uses a running
    one. Each finished cell is written at once (atomically), so an interrupted run resumes where
    it stopped when run again with the same config; stored records are checked first, and
    damaged ones are moved aside (*.corrupt) and recomputed. `sim NAME --help` lists NAME's keys
    and presets. Example:

        noprune-theory sim lipschitz_floor --preset quick --workers 2
    """
    if list_:
        ctx = click.get_current_context()
        ignored = [p.opts[0] for p in ctx.command.params
                   if p.name not in ("name", "list_", "quiet") and ctx.get_parameter_source(
                       p.name) not in (None, click.core.ParameterSource.DEFAULT)]
        if ignored:
            raise click.UsageError(f"--list only lists; it takes no {', '.join(ignored)}")
        _list_simulations(name)
        return
    if not name:
        raise click.UsageError("give a simulation NAME, or --list to see them")
    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers or --scheduler, not both")
    from pathlib import Path

    from noprune_theory.sims import (
        CellError,
        ResultStore,
        check_parquet,
        format_duration,
        get_simulation,
        load_results,
        resolve_config,
        run_simulation,
        save_table,
    )

    # everything below is checked before the first cell runs
    sim = get_simulation(name)
    cfg = resolve_config(sim, preset=preset, file=config_file, sets=sets, seeds=seeds,
                         backend=backend, memory_budget=memory_budget)
    if sim.check is not None:
        # the simulation's own check (optional dependency, data file): a ValueError is one
        # "Error:" line, before any cell or folder
        for point in cfg.points():
            sim.check(dict(point))
    for path, option in ((csv_path, "--csv"), (parquet_path, "--parquet")):
        if path is not None:
            check_output_file(path, option)
    if csv_path and parquet_path and Path(csv_path).resolve() == Path(parquet_path).resolve():
        raise click.UsageError("--csv and --parquet name the same file; give two files")
    if parquet_path is not None:
        try:
            check_parquet()
        except ImportError as exc:
            raise click.UsageError(str(exc)) from None
    store = ResultStore(Path(out) / cfg.sim.replace(":", "_") / cfg.hash)
    store.check_config(cfg)  # a corrupt or foreign config.json is an error, also for --dry-run
    if dry_run:
        bad = store.check_cells(move=False, fields=sim.fields)
        done = store.stored_keys()
        keys = {k for k, _, _ in cfg.cells()}
        click.echo(dump_json(cfg.to_dict(), indent=1))
        click.echo(f"{len(keys)} cells ({cfg.n_points} grid points x {cfg.seeds} seeds), "
                   f"{len(keys & (done - {p.stem for p, _ in bad}))} already in {store.folder}")
        if bad:
            click.echo(f"{len(bad)} stored record(s) are corrupt and would be moved aside and "
                       f"recomputed (first: {bad[0][0].name}: {bad[0][1]})")
        return
    bad = store.check_cells(move=True, fields=sim.fields)
    if bad:
        click.echo(f"{sim.name}: {len(bad)} corrupt cell record(s) moved aside as "
                   f"*.json.corrupt, to be recomputed (first: {bad[0][0].name}: {bad[0][1]})",
                   err=True)
    try:
        summary = run_simulation(cfg, out=out, workers=workers, scheduler=scheduler,
                                 progress=not quiet)
    except CellError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.Abort() from None
    if not quiet:
        click.echo(f"{sim.name}: {summary.total} cells ({summary.skipped} already done, "
                   f"{summary.computed} computed) in {format_duration(summary.seconds)} "
                   f"-> {summary.folder}")
    if csv_path or parquet_path:
        table = load_results(summary.folder)
        for path, fmt in ((csv_path, "csv"), (parquet_path, "parquet")):
            if path:
                written = save_table(table, path, format=fmt)
                if not quiet:
                    click.echo(f"table written to {written}")
