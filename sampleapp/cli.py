"""The ``sampleapp`` command: a thin argparse layer over plain functions.

Each subcommand parses its arguments and calls one function that is tested on its own. Errors of
the project's hierarchy are printed as one ``error: <message>`` line and exit 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from sampleapp import __version__
from sampleapp.errors import SampleappError

if TYPE_CHECKING:
    from sampleapp.ops.settings import Settings

Handler = Callable[[argparse.Namespace], int | None]
DEPLOYMENTS = ("compose", "cluster")


def load() -> Settings:
    """The deployments' settings, read once per command (deploy/.env, then the environment)."""
    from sampleapp.ops import settings

    return settings.load()


def _serve(args: argparse.Namespace) -> None:
    from sampleapp import serve

    serve.run(serve.ServeOptions(host=args.host, port=args.port, workers=args.workers))


def _run(args: argparse.Namespace) -> None:
    from sampleapp import serve

    serve.run_embedded(serve.ServeOptions(host=args.host, port=args.port, workers=args.workers))


def _manage(args: argparse.Namespace) -> None:
    from sampleapp.serve import use_django_settings

    use_django_settings()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["sampleapp manage", *args.args])


def _renderer(args: argparse.Namespace) -> None:
    from sampleapp.discovery import renderer

    renderer.main({"NGINX_LISTEN": args.listen})


def _dns(args: argparse.Namespace) -> None:
    from sampleapp.discovery import dns

    dns.main({"DNS_LISTEN": args.listen})


def _register_db(args: argparse.Namespace) -> int:
    from sampleapp.discovery import supervisor

    return supervisor.register_db({"DB_ADVERTISE_HOST": args.host, "DB_PORT": args.port})


def _status(args: argparse.Namespace) -> int:
    from sampleapp.ops import status

    return status.main(load(), args.target, as_json=args.json)


def _web(args: argparse.Namespace) -> int:
    from sampleapp.discovery import supervisor

    return supervisor.web(supervisor.WebOptions(args.host, args.port, args.workers))


def _migrate(args: argparse.Namespace) -> None:
    from sampleapp import serve

    serve.migrate_job(timeout=args.timeout)


def _image_build(args: argparse.Namespace) -> None:
    from sampleapp.ops import images
    from sampleapp.ops.settings import REPO
    from sampleapp.progress import Progress

    images.build_app_image(Progress(REPO / "var" / "sampleapp-build.log"))
    print(f"✔ Built {images.APP_IMAGE} ({images.image_size_mb(images.APP_IMAGE):.0f} MB)")


def _secrets_init(args: argparse.Namespace) -> None:
    from sampleapp.ops import secrets

    written = secrets.init(load())
    print("\n".join(f"✔ wrote {path}" for path in written) or "✔ every secret file exists")


def _up(args: argparse.Namespace) -> None:
    from sampleapp.ops import stack

    stack.up(load(), stack.Options(replicas=args.replicas, build=not args.no_build))


def _down(args: argparse.Namespace) -> None:
    from sampleapp.ops import status
    from sampleapp.progress import Progress

    status.target(load(), args.target).remove(Progress(), args.volumes)


def _logs(args: argparse.Namespace) -> None:
    from sampleapp.ops import status

    status.target(load(), args.target).logs(args.service, args.tail, args.follow)


def _scale(args: argparse.Namespace) -> None:
    from sampleapp.ops import stack

    stack.scale(load(), args.service, args.replicas)


def _release(args: argparse.Namespace) -> None:
    from sampleapp.ops import release

    release.release(args.registry, build_number=args.build_number, run_tests=not args.skip_tests)


def _cluster_create(args: argparse.Namespace) -> None:
    from sampleapp.ops import cluster

    cluster.create(load(), args.nodes)


def _cluster_deploy(args: argparse.Namespace) -> None:
    from sampleapp.ops import cluster_stack

    cluster_stack.deploy(load(), timeout=args.timeout, image=args.image)


def _cluster_heal(args: argparse.Namespace) -> None:
    from sampleapp.ops import cluster_stack

    cluster_stack.heal(load(), timeout=args.timeout)


def _cluster_destroy(args: argparse.Namespace) -> None:
    from sampleapp.ops import cluster

    cluster.destroy(load())


def _cost_thesis(args: argparse.Namespace) -> None:
    from sampleapp.cost import commands

    print(commands.run_thesis(), end="")


def _cost_plan(args: argparse.Namespace) -> None:
    from sampleapp.cost import commands

    print(commands.run_plan(commands.Options.from_flags(vars(args))), end="")


def _cost_compare(args: argparse.Namespace) -> None:
    from sampleapp.cost import commands

    print(commands.run_compare(commands.Options.from_flags(vars(args))), end="")


def _requests(value: str) -> int:
    """A request rate as 1000000, 1_000_000 or 1e6."""
    try:
        number = Decimal(value.replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of requests") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of requests")
    return int(number)


def _cost_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests-per-hour", type=_requests, metavar="N", help="default 1e6")
    p.add_argument(
        "--prices", type=Path, metavar="FILE", help="default deploy/cost/prices-2026.yaml"
    )
    p.add_argument("--request-bytes", type=int, metavar="B", help="instead of the measured pages")
    p.add_argument("--gzip", action="store_true", help="the pages as they would be gzip-compressed")
    p.add_argument("--hours", type=Decimal, help="hours a month the machines run (default 730)")


def _topology_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance-type", metavar="TYPE", help="default: deploy/aws/topology.yaml's")
    p.add_argument("--count", type=int, metavar="N", help="machines (default 3)")
    p.add_argument("--region", help="default: deploy/aws/topology.yaml's (us-east-1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sampleapp",
        description="The Rails Tutorial microblog in Django, and its deployments: one host "
        "(Compose) and a three-node Swarm cluster.",
        epilog="`sampleapp COMMAND --help` tells more; the README has the walk-through.",
    )
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

    p = sub.add_parser("renderer", help="run nginx and keep its app server pool in step with etcd")
    p.add_argument("--listen", help="nginx listen address or port (default NGINX_LISTEN or 80)")
    p.set_defaults(handler=_renderer)

    p = sub.add_parser("dns", help="serve sampleapp.local. from etcd's /skydns keys")
    p.add_argument("--listen", help="host:port for UDP and TCP (default DNS_LISTEN or 0.0.0.0:53)")
    p.set_defaults(handler=_dns)

    p = sub.add_parser("register-db", help="publish db.sampleapp.local in etcd while the DB is up")
    p.add_argument("--host", help="the database's IP or name (default: this machine's address)")
    p.add_argument("--port", help="the database's port (default DB_PORT or 5432)")
    p.set_defaults(handler=_register_db)

    p = sub.add_parser(
        "status",
        help="machines, services, registered app servers, DNS records, etcd health; "
        "exit 1 naming each problem",
    )
    p.add_argument(
        "--target",
        choices=("host", "compose", "cluster"),
        help="host: the etcd of ETCD_ENDPOINTS; default: that when set, else what runs",
    )
    p.add_argument("--json", action="store_true", help="the same report as JSON")
    p.set_defaults(handler=_status)

    p = sub.add_parser(
        "web", help="container role: gunicorn on 0.0.0.0:9292, registered in etcd while ready"
    )
    p.add_argument("--host", default="0.0.0.0", help="address gunicorn binds (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=9292)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=_web)

    p = sub.add_parser("migrate", help="container role: wait for the DB, migrate and populate once")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the DB")
    p.set_defaults(handler=_migrate)

    p = sub.add_parser("proxy", help="container role: nginx fed by etcd (same as renderer)")
    p.add_argument("--listen", help="nginx listen address or port (default NGINX_LISTEN or 80)")
    p.set_defaults(handler=_renderer)

    p = sub.add_parser("image", help="build the project image (local bases when offline)")
    image = p.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    image.add_parser("build", help="build sampleapp:<version>").set_defaults(handler=_image_build)

    p = sub.add_parser("secrets", help="the deployment's secret files in deploy/secrets/")
    secret = p.add_subparsers(dest="secrets_command", required=True, metavar="ACTION")
    secret.add_parser("init", help="write random values for missing secret files").set_defaults(
        handler=_secrets_init
    )

    p = sub.add_parser("up", help="build and start the one-host stack on http://127.0.0.1:8080")
    p.add_argument("--replicas", type=int, default=3, help="app servers (default 3)")
    p.add_argument("--no-build", action="store_true", help="use the images already built")
    p.set_defaults(handler=_up)

    p = sub.add_parser("down", help="stop and remove the stack (data kept unless --volumes)")
    p.add_argument("--volumes", action="store_true", help="also delete the database volume")
    p.add_argument("--target", choices=DEPLOYMENTS, default="compose")
    p.set_defaults(handler=_down)

    p = sub.add_parser("ps", help="`sampleapp status --target compose`")
    p.set_defaults(handler=_status, target="compose", json=False)

    p = sub.add_parser("logs", help="the stack's logs, of one service or all")
    p.add_argument("service", nargs="?")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--tail", type=int, default=100)
    p.add_argument("--target", choices=DEPLOYMENTS, default="compose")
    p.set_defaults(handler=_logs)

    p = sub.add_parser("scale", help="run N app servers: sampleapp scale web N")
    p.add_argument("service", choices=["web"])
    p.add_argument("replicas", type=int)
    p.set_defaults(handler=_scale)

    p = sub.add_parser("cluster", help="the three-node Docker Swarm cluster on this host")
    cluster = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    c = cluster.add_parser("create", help="start nodes core-01..N, form the swarm, push images")
    c.add_argument("--nodes", type=int, default=3, help="machines (default 3, at least 3)")
    c.set_defaults(handler=_cluster_create)
    c = cluster.add_parser("deploy", help="deploy deploy/stack.yaml and wait until it serves")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds per wait (default 300)")
    c.add_argument(
        "--image",
        metavar="REF",
        help="deploy this image of the host engine as the app (e.g. sampleapp:rolling) "
        "instead of the current build",
    )
    c.set_defaults(handler=_cluster_deploy)
    c = cluster.add_parser("status", help="`sampleapp status --target cluster`")
    c.set_defaults(handler=_status, target="cluster", json=False)
    c = cluster.add_parser(
        "heal", help="start anew the containers of a machine the proxy cannot reach (see README)"
    )
    c.add_argument("--timeout", type=float, default=300.0, help="seconds per wait (default 300)")
    c.set_defaults(handler=_cluster_heal)
    c = cluster.add_parser("destroy", help="remove the nodes, registry, volumes and network")
    c.set_defaults(handler=_cluster_destroy)

    p = sub.add_parser("cost", help="what it costs on AWS: the thesis's tables, today's prices")
    cost = p.add_subparsers(dest="cost_command", required=True, metavar="ACTION")
    c = cost.add_parser("thesis", help="the thesis's tables 4.1 and 4.2, recomputed and checked")
    c.set_defaults(handler=_cost_thesis)
    c = cost.add_parser("plan", help="today's price of the default topology, or one given by flags")
    _cost_flags(c)
    _topology_flags(c)
    c.set_defaults(handler=_cost_plan)
    c = cost.add_parser("compare", help="the thesis's 2017 topology beside today's, same traffic")
    _cost_flags(c)
    c.add_argument("--plot", type=Path, metavar="FILE.svg", help="also chart cost against traffic")
    c.set_defaults(handler=_cost_compare)

    p = sub.add_parser("release", help="test, build, tag (sha8, build-N, latest), push, verify")
    p.add_argument("--registry", required=True, help="registry host:port, e.g. 127.0.0.1:5000")
    p.add_argument("--build-number", type=int, help="default: one more than the last release")
    p.add_argument("--skip-tests", action="store_true", help="build and push without testing")
    p.set_defaults(handler=_release)
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
