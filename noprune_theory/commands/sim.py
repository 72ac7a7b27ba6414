"""``noprune-theory sim``: run a simulation's grid of cells, resumably, here or on Dask."""
from __future__ import annotations

import click

from noprune_theory.backend import CHOICES as BACKEND_CHOICES
from noprune_theory.commands._types import Number


def _list_simulations():
    from noprune_theory.sims import list_simulations

    for sim in list_simulations():
        click.echo(f"{sim.name}  {sim.description}")
        for pname, p in sim.presets.items():
            click.echo(f"    --preset {pname:<8} {p.description}")
        fields = ", ".join(sim.fields)
        click.echo(f"    keys: {fields}, seeds, backend")


@click.command("sim")
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the simulations and their presets.")
@click.option("--preset", help="A preset of the simulation (see --list), e.g. quick, paper.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file of key = value lines (a list value sweeps that key).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one key; KEY=1,2,3 or KEY=[1,2,3] sweeps it. Repeatable.")
@click.option("--seeds", type=Number(integer=True, low=1),
              help="Number of seeds per grid point (seeds 0..N-1).")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False),
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
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="After the run, write every finished cell of the folder to this CSV file.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and the cell count only.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def command(name, list_, preset, config_file, sets, seeds, out, backend, workers, scheduler,
            memory_budget, csv_path, dry_run, quiet):
    """Run simulation NAME: every (grid point, seed) cell not yet in the results folder.

    In-process by default; --workers N starts a local Dask cluster, --scheduler uses a running
    one. Each finished cell is written at once (atomically), so an interrupted run resumes where
    it stopped when run again with the same config. Example:

        noprune-theory sim lipschitz_floor --preset quick --workers 2
    """
    if list_:
        _list_simulations()
        return
    if not name:
        raise click.UsageError("give a simulation NAME, or --list to see them")
    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers or --scheduler, not both")
    import json

    from noprune_theory.sims import CellError, get_simulation, resolve_config, run_simulation
    from noprune_theory.sims._runner import estimate_cells, format_duration

    # everything below is checked before the first cell runs
    sim = get_simulation(name)
    cfg = resolve_config(sim, preset=preset, file=config_file, sets=sets, seeds=seeds,
                         backend=backend, memory_budget=memory_budget)
    if dry_run:
        total, done, folder = estimate_cells(cfg, out)
        click.echo(json.dumps(cfg.to_dict(), indent=1))
        click.echo(f"{total} cells ({cfg.n_points} grid points x {cfg.seeds} seeds), "
                   f"{done} already in {folder}")
        return
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
    if csv_path:
        from noprune_theory.sims import load_results

        path = load_results(summary.folder).to_csv(csv_path)
        if not quiet:
            click.echo(f"table written to {path}")
