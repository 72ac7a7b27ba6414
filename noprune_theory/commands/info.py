"""``noprune-theory info``: versions, backends, GPU availability and what ``auto`` picks."""
from __future__ import annotations

import click

from noprune_theory.commands._types import dump_json


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(as_json: bool) -> None:
    """Print versions, which backends are usable (and if not, why), and what `auto` picks."""
    from noprune_theory.backend import backend_info

    info = backend_info()
    if as_json:
        click.echo(dump_json(info, indent=2))
        return
    click.echo(f"noprune-theory {info['noprune_theory']}  (Python {info['python']}, "
               f"{info['platform']})")
    click.echo("versions:")
    for name, ver in info["versions"].items():
        click.echo(f"  {name:<12} {ver if ver else 'not installed'}")
    click.echo("backends:")
    for name, st in info["backends"].items():
        mark = "yes" if st["usable"] else "no "
        click.echo(f"  {name:<7} usable: {mark}  {st['reason']}")
    gpu = info["gpu"]
    click.echo("gpu:")
    for key, label in (
        ("device", "device"),
        ("compute_capability", "compute capability"),
        ("driver_version", "CUDA driver"),
        ("runtime_version", "CUDA runtime"),
        ("numba_cuda_implementation", "numba.cuda"),
    ):
        click.echo(f"  {label:<19} {gpu[key] if gpu[key] else 'not found'}")
    if info["cuda_simulator"]:
        click.echo("  (NUMBA_ENABLE_CUDASIM is set: numba.cuda kernels run in the simulator)")
    click.echo(f"auto picks: {info['auto']}")
