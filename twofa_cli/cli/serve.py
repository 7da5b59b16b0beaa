"""``twofa serve``: the reference web pages (login, code, Account Settings) on the library."""

from __future__ import annotations

import ipaddress
import json
import signal
from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, note


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port to listen on (0: any free port).")] = 8000,
    json_: JsonOpt = False,
) -> None:
    """Serve the customer's web pages; prints the URL, stops on Ctrl-C or SIGTERM."""
    try:
        import uvicorn

        from twofa_cli.web import create_app
    except ImportError as exc:
        from twofa_cli.errors import BadInput

        raise BadInput(f"twofa serve needs the web extra ({exc.name} is missing): "
                       "pip install 'twofa-cli[web]'") from None
    from twofa_cli.api import TwoFactor

    state = ctx.find_root().obj

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:  # bound: say where, with the port the OS chose for --port 0
                bound = self.servers[0].sockets[0].getsockname()[1]
                name = f"[{host}]" if ":" in host else host
                url = f"http://{name}:{bound}/login"
                typer.echo(json.dumps({"url": url}) if json_ else f"Serving {url} (Ctrl-C to stop)")

    if not _loopback(host):
        note("Warning: the cookies are Secure: browsers send them over plain http only to "
             "localhost; put an HTTPS proxy in front of this address.")
    with TwoFactor.open(state.home, actor=state.actor or "web") as twofa:
        server = Server(uvicorn.Config(create_app(twofa), host=host, port=port,
                                       log_level="warning", proxy_headers=False,
                                       server_header=False, lifespan="off"))
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


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
