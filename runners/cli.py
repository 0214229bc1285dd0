"""The `forge-runner` command."""

from __future__ import annotations

import argparse
import sys

from runners import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="forge-runner", description="Runs CI jobs for a forge in Docker containers or a shell."
    )
    parser.add_argument("--version", action="version", version=f"forge-runner {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("register", help="Register this machine with a forge using a registration token.")
    sub.add_parser("run", help="Poll the forge for jobs and run them.")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(
        f"forge-runner {__version__}: the `{args.command}` command needs a forge with CI support, which this "
        "release does not include yet.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
