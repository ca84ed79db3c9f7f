"""`python -m gateway serve|publish`: the server's commands without the client package."""

from __future__ import annotations

import argparse
import logging
import sys

from gateway import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=cli.__doc__)
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    if not getattr(args, "own_logging", False):
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
