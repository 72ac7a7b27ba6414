"""``noprune-theory plot``: figures of a results folder, drawn by the simulation's own ``plot``."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from noprune_theory.commands.sim import NonEmptyPath


class NothingToPlot(ValueError):
    """A results folder that holds no finished cells, or whose simulation draws no figure."""


def plot_folder(folder: str | Path, out: str | Path | None = None,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Plot one results folder; return the written paths.

    Raises
    ------
    ValueError
        Not a results folder (or a corrupt one); :class:`NothingToPlot` (a ValueError) when it
        holds no finished cells or its simulation declares no ``plot``.
    """
    import os
    from pathlib import Path

    from noprune_theory.sims import get_simulation, load_results, save_figures

    table = load_results(folder)
    meta = table.attrs["config"]
    if len(table) == 0:
        raise NothingToPlot(f"{folder} holds no finished cells yet; run `noprune-theory sim` "
                            f"first")
    try:
        sim = get_simulation(meta["sim"])
    except ValueError:
        raise ValueError(f"{folder} was made by simulation {meta['sim']!r}, which is not "
                         f"known here") from None
    if sim.plot is None:
        raise NothingToPlot(f"simulation {sim.name!r} declares no plot(table, config, outdir)")
    outdir = Path(out) if out is not None else Path(folder) / "figures"
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        probe = outdir / f".probe.{os.getpid()}"
        probe.write_text("ok")  # an existing read-only folder fails here, before any drawing
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write figures to {outdir}: {exc.strerror or exc}") from None
    figures = sim.plot(table, dict(meta["config"]), outdir)
    made_by = dict(meta, cells_plotted=len(table),
                   seeds_plotted=sorted(set(table["seed"].tolist())))
    try:
        return save_figures(figures, outdir, formats=formats, config=made_by,
                            default_stem=sim.name)
    except OSError as exc:  # e.g. the disk filled up while saving
        raise ValueError(f"cannot write figures to {outdir}: {exc.strerror or exc}") from None


@click.command("plot")
@click.argument("folder", type=NonEmptyPath(file_okay=False))
@click.option("--out", type=NonEmptyPath(file_okay=False),
              help="Where to write the figures (default FOLDER/figures).")
@click.option("--format", "formats", default="png,pdf", show_default=True,
              help="Comma-separated formats: png, pdf, svg (each at most once).")
def command(folder: str, out: str | None, formats: str) -> None:
    """Plot the results in FOLDER (a folder made by `noprune-theory sim`, holding config.json).

    A folder of several results folders plots each of them: one simulation's folder
    (results/<sim>) or a whole results root (results), where folders without finished cells
    or without a plot are skipped with a note.
    """
    from pathlib import Path

    from noprune_theory.sims import FORMATS, read_config, result_folders

    fmts = [f.strip().lower() for f in formats.split(",")]
    bad = [f for f in fmts if f not in FORMATS]
    if not fmts or bad:
        raise click.BadParameter(f"formats must be among {', '.join(FORMATS)}, got {formats!r}",
                                 param_hint="'--format'")
    if len(set(fmts)) != len(fmts):
        raise click.BadParameter(f"a format is given more than once: {formats!r}",
                                 param_hint="'--format'")
    root = Path(folder)
    if not root.is_dir():
        raise click.BadParameter(f"{folder} does not exist", param_hint="'FOLDER'")
    single = (root / "config.json").exists()
    folders = [root] if single else result_folders(root)
    if not folders:
        raise click.BadParameter(f"{folder} is not a results folder (no config.json in it "
                                 f"or in the two levels below)", param_hint="'FOLDER'")
    for f in folders:  # a corrupt config anywhere is reported before any figure is drawn
        read_config(f)
    plotted = 0
    skipped = []
    for f in folders:
        dest = None if out is None else (Path(out) if single else Path(out) / f.relative_to(root))
        try:
            paths = plot_folder(f, dest, fmts)
        except NothingToPlot as exc:
            if single:
                raise
            skipped.append(str(exc))
            continue
        plotted += 1
        for path in paths:
            click.echo(str(path))
    if not plotted:
        raise click.BadParameter(f"nothing to plot under {folder}: {skipped[0]}",
                                 param_hint="'FOLDER'")
    for reason in skipped:
        click.echo(f"skipped: {reason}", err=True)
