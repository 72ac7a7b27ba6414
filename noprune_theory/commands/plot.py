"""``noprune-theory plot``: figures of a results folder, drawn by the simulation's own ``plot``."""
from __future__ import annotations

import click


def plot_folder(folder, out=None, formats=("png", "pdf")):
    """Plot one results folder; return the written paths.

    Raises
    ------
    ValueError
        Not a results folder, no finished cells, or a simulation without ``plot``.
    """
    from pathlib import Path

    from noprune_theory.sims import get_simulation, load_results, save_figures

    table = load_results(folder)
    if len(table) == 0:
        raise ValueError(f"{folder} holds no finished cells yet; run `noprune-theory sim` first")
    meta = table.config
    try:
        sim = get_simulation(meta["sim"])
    except ValueError:
        raise ValueError(f"{folder} was made by simulation {meta['sim']!r}, which is not "
                         f"known here") from None
    if sim.plot is None:
        raise ValueError(f"simulation {sim.name!r} declares no plot(table, config, outdir)")
    outdir = Path(out) if out is not None else Path(folder) / "figures"
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create {outdir}: {exc.strerror or exc}") from None
    figures = sim.plot(table, dict(meta["config"]), outdir)
    made_by = dict(meta, cells_plotted=len(table), seeds_plotted=table.unique("seed"))
    return save_figures(figures, outdir, formats=formats, config=made_by, default_stem=sim.name)


@click.command("plot")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False),
              help="Where to write the figures (default FOLDER/figures).")
@click.option("--format", "formats", default="png,pdf", show_default=True,
              help="Comma-separated formats: png, pdf, svg.")
def command(folder, out, formats):
    """Plot the results in FOLDER (a folder made by `noprune-theory sim`, holding config.json).

    A folder of several results folders (e.g. results/<sim>) plots each of them.
    """
    from pathlib import Path

    from noprune_theory.sims._plotting import FORMATS

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if not fmts or bad:
        raise click.BadParameter(f"formats must be among {', '.join(FORMATS)}, got {formats!r}",
                                 param_hint="'--format'")
    root = Path(folder)
    if not root.is_dir():
        raise click.BadParameter(f"{folder} does not exist", param_hint="'FOLDER'")
    if (root / "config.json").is_file():
        folders = [root]
    else:
        folders = sorted(p.parent for p in root.glob("*/config.json"))
        if not folders:
            raise click.BadParameter(f"{folder} is not a results folder (no config.json in it "
                                     f"or its subfolders)", param_hint="'FOLDER'")
    for f in folders:
        dest = None if out is None else (Path(out) if len(folders) == 1 else Path(out) / f.name)
        for path in plot_folder(f, dest, fmts):
            click.echo(str(path))
