"""``twofa serve``: the reference web pages (login, code, Account Settings) on the library."""

from __future__ import annotations

import ipaddress
import signal
from typing import Annotated

import typer

from twofa_cli.cli.documents import Serving
from twofa_cli.cli.output import JsonOpt, note, plain, to_json


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port to listen on (0: any free port).")] = 8000,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Worker processes sharing the port; sessions live in the store, so every "
             "worker (and every host on one PostgreSQL store) honours them.")] = 1,
    json_: JsonOpt = False,
) -> None:
    """Serve the customer's and the admin's (/admin) web pages; prints the URL, stops on Ctrl-C or SIGTERM.

    \b
    Example:
      twofa serve --host 127.0.0.1 --port 8000 --workers 4
    """
    try:
        import uvicorn

        from twofa_cli.web import create_app
    except ImportError as exc:
        from twofa_cli.errors import BadInput

        raise BadInput(f"twofa serve needs the web extra ({exc.name} is missing): "
                       "pip install 'twofa-cli[web]'") from None
    from twofa_cli.api import TwoFactor

    state = ctx.find_root().obj

    def announce(bound: int) -> None:
        name = f"[{host}]" if ":" in host else host
        url = f"http://{name}:{bound}/login"
        typer.echo(to_json(plain(Serving(url))) if json_ else f"Serving {url} (Ctrl-C to stop)")

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:  # bound: say where, with the port the OS chose for --port 0
                announce(self.servers[0].sockets[0].getsockname()[1])

    if not _loopback(host):
        note("Warning: the cookies are Secure: browsers send them over plain http only to "
             "localhost; put an HTTPS proxy in front of this address.")
    from twofa_cli.web.access_log import logging_config

    # uvicorn's access log stays off (it prints query strings): ours is twofa.access.
    options = dict(host=host, port=port, log_level="warning", proxy_headers=False,
                   server_header=False, lifespan="off", access_log=False,
                   log_config=logging_config())
    if workers > 1:
        _serve_workers(uvicorn.Config(
            "twofa_cli.web.serving:app_from_environment", factory=True, workers=workers,
            **options), state.home, state.actor or "web", announce)
        return
    with TwoFactor.open(state.home, actor=state.actor or "web") as twofa:
        server = Server(uvicorn.Config(create_app(twofa), **options))
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for
        # the handler it found; a no-op one lets the store close and the command exit 0.
        previous = {sig: signal.signal(sig, lambda *_: None)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if not json_:
        note("Stopped.")


def _serve_workers(config, home, actor: str, announce) -> None:
    """Several processes on one socket (uvicorn's supervisor): each opens the home itself."""
    import os

    from uvicorn.supervisors import Multiprocess

    from twofa_cli.api import TwoFactor

    TwoFactor.open(home, actor=actor).close()  # a broken home fails here, once, in words
    os.environ["TWOFA_HOME"] = str(TwoFactor.home_folder(home))
    os.environ["TWOFA_SERVE_ACTOR"] = actor
    sock = config.bind_socket()
    sock.listen(config.backlog)  # connections wait in the backlog until a worker is up
    announce(sock.getsockname()[1])
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
