"""Command line for the test cluster: `python -m tests.cluster {build,up,down,env,gomod}`.

`make cluster*` targets call this; people can too. Every command takes `--state-dir`
(default `.cluster/` in the repo root), so several clusters can live side by side.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from tests.cluster import build, gomod
from tests.cluster.controlplane import DEFAULT_STATE_DIR, ClusterSettings, ControlPlane


def _environment_lines(plane: ControlPlane) -> list[str]:
    return [
        f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}",
        f'export PATH={shlex.quote(str(build.bin_dir()))}:"$PATH"',
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("gomod", help="regenerate the pinned Go modules from versions.py")
    commands.add_parser("build", help="build the binaries unless cached")
    up = commands.add_parser("up", help="start a cluster in the background and wait for it")
    up.add_argument("--node", action="append", help="node name (repeat); default node-0")
    up.add_argument("--gpus", type=int, default=ClusterSettings.gpus_per_node)
    up.add_argument("--gpu-resource", default=ClusterSettings.gpu_resource)
    commands.add_parser("down", help="stop the cluster, keeping its data")
    commands.add_parser("env", help="print shell exports for kubectl; use with eval")
    args = parser.parse_args(argv)

    if args.command == "gomod":
        gomod.generate()
    elif args.command == "build":
        build.build()
    elif args.command == "up":
        settings = ClusterSettings(
            state_dir=args.state_dir,
            nodes=tuple(args.node or ClusterSettings.nodes),
            gpus_per_node=args.gpus,
            gpu_resource=args.gpu_resource,
        )
        plane = ControlPlane(settings)
        if plane.is_running():
            print(f"cluster already running at {plane.server}; state in {plane.state_dir}")
        else:
            seconds = plane.start()
            print(f"cluster up in {seconds:.1f}s at {plane.server}; state in {plane.state_dir}")
        print("use it with:  eval $(make cluster-env)   # or: python -m tests.cluster env")
        kubectl = str(build.binary("kubectl"))
        gpu_field = settings.gpu_resource.replace(".", "\\.")
        columns = f"custom-columns=NAME:.metadata.name,GPUS:.status.capacity.{gpu_field}"
        subprocess.run(
            [kubectl, f"--kubeconfig={plane.kubeconfig}", "get", "nodes", "-o", columns],
            check=False,
        )
    elif args.command == "down":
        ControlPlane(ClusterSettings(state_dir=args.state_dir)).stop()
        print(f"cluster in {args.state_dir} stopped (data kept; delete the directory to reset)")
    elif args.command == "env":
        plane = ControlPlane(ClusterSettings(state_dir=args.state_dir))
        if not plane.kubeconfig.exists():
            sys.exit(f"no cluster in {plane.state_dir}; run `make cluster` first")
        print("\n".join(_environment_lines(plane)))


if __name__ == "__main__":
    main()
