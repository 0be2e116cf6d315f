"""`benchmark.py serve [--host 127.0.0.1] [--port 8000] [--models-dir models/] [--allow-host NAME]`: start the
page and API; the command-line face of bench.use.serve."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..use.serve import MAX_BODY_BYTES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py serve",
        description="A local web page where you draw a digit (mouse, pen or finger) or upload a photo and see "
        "what every saved model says, with a JSON API: POST /predict (an image), GET /models.",
        epilog="Requests are answered only when their Host header names this server (on a loopback --host: "
        "127.0.0.1, localhost or [::1] with the port; on one address: that address; on 0.0.0.0 or ::, any "
        "name unless --allow-host is given), so a web page cannot reach it by rebinding its own name to "
        "this address. A POST sent by a page of another origin (its Origin header, or Sec-Fetch-Site) is "
        "refused with 403; scripts and curl, which send neither, are answered. "
        "Example: python benchmark.py serve, then open http://127.0.0.1:8000",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--models-dir", default="models", type=Path, help="where a run saved its models (default: models/)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header names NAME (on any port): the name other machines "
        "or a reverse proxy use for this one; repeat for more. With --host 0.0.0.0 or :: it limits "
        "the names answered (any name without it) to NAME and the loopback names",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=MAX_BODY_BYTES / 2**20,
        help=f"largest request body accepted (default: {MAX_BODY_BYTES / 2**20:g} MB)",
    )
    return p


def main(argv) -> int:
    from ..console import esc, fail, make_console
    from ..use.models import ModelsError, load_models, warm_up
    from ..use.serve import allowed_hosts, create_app, listen

    args = build_parser().parse_args(argv)
    console = make_console()
    if not 0 <= args.port <= 65535:
        return fail(console, f"--port {args.port}: not a port number (0-65535)")
    if args.max_body_mb <= 0:
        return fail(console, f"--max-body-mb {args.max_body_mb:g}: must be positive")
    try:
        models = load_models(args.models_dir)
    except ModelsError as e:
        return fail(console, str(e))
    warm_up(models)
    try:
        sock = listen(args.host, args.port)
    except OSError as e:
        return fail(
            console, f"{args.host}:{args.port}: cannot listen: {e.strerror or e} (pick another --port or --host)"
        )
    import uvicorn

    handler = logging.StreamHandler(sys.stdout)  # its own handler: TensorFlow's absl owns the root logger's
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    request_log = logging.getLogger("digit_bench.serve")
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving {len(models)} models ({', '.join(m.name for m in models)}) on http://{esc(shown)}:{port}  "
        "(Ctrl+C stops)",
        highlight=False,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]listening on {esc(args.host)}: other machines can reach this server[/yellow]")
    hosts = allowed_hosts(args.host, port, [n.strip().lower() for n in args.allow_host if n.strip()])
    console.print(f"answering requests whose Host header names {esc(hosts.describe())}", highlight=False)
    sys.stdout.flush()
    app = create_app(models, max_body=int(args.max_body_mb * 2**20), hosts=hosts)
    # uvicorn's own logging config and access log off: each request is logged once, by create_app
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0
