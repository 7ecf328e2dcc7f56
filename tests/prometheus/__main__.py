"""Command line for the test Prometheus: `python -m tests.prometheus {build,gomod}`.

`make prometheus-build` calls this; people can too.
"""

from __future__ import annotations

import argparse

from tests.prometheus import build, gomod


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.prometheus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("gomod", help="regenerate the pinned Go module from versions.py")
    commands.add_parser("build", help="build the prometheus binary unless cached")
    args = parser.parse_args(argv)
    if args.command == "gomod":
        gomod.generate()
    elif args.command == "build":
        build.build()


if __name__ == "__main__":
    main()
