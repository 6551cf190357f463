"""``python -m revqb_sandbox serve [options]``: ``revqb sandbox serve`` with every issue-15 option."""

from __future__ import annotations

import argparse
import sys

from revqb_pipeline.cli._sandbox import add_serve_options, cmd_sandbox_serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``serve`` options and run both sandboxes until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m revqb_sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run both sandboxes until stopped")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--revio-port", type=int, default=8701)
    serve.add_argument("--qbo-port", type=int, default=8702)
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--customers", type=int, default=25)
    serve.add_argument("--months", type=int, default=1)
    serve.add_argument("--time-scale", type=float, default=1.0)
    serve.add_argument("--faults", default=None)
    add_serve_options(serve)
    return cmd_sandbox_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
