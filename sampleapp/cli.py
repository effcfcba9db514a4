"""The ``sampleapp`` command: a thin argparse layer over plain functions.

Each subcommand parses its arguments and calls one function that is tested on its own. Errors of
the project's hierarchy are printed as one ``error: <message>`` line and exit 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sampleapp import __version__
from sampleapp.errors import SampleappError

Handler = Callable[[argparse.Namespace], int | None]


def _serve(args: argparse.Namespace) -> None:
    from sampleapp import serve

    serve.run(serve.ServeOptions(host=args.host, port=args.port, workers=args.workers))


def _run(args: argparse.Namespace) -> None:
    from sampleapp import serve

    serve.use_django_settings()
    import django

    django.setup()
    from sampleapp.web import embedded

    embedded.prepare()
    email, password = embedded.DEMO_LOGIN
    print(f"▶ Serving http://localhost:{args.port}  (sign in as {email} / {password}; Ctrl-C stops)")
    serve.run(serve.ServeOptions(host=args.host, port=args.port, workers=args.workers))


def _manage(args: argparse.Namespace) -> None:
    from sampleapp.serve import use_django_settings

    use_django_settings()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["sampleapp manage", *args.args])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sampleapp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sampleapp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the microblog under gunicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=_serve)

    p = sub.add_parser("run", help="prepare the embedded SQLite app and serve it (make run)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=_run)

    p = sub.add_parser("manage", help="run a Django management command (migrate, populate, ...)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_manage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args) or 0
    except SampleappError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
