"""Simulated browsers for the CLI: each keeps its "Trust this device" cookies.

A browser named NAME is the file ``TWOFA_HOME/devices/NAME.json`` (owner-only),
mapping account ids to the token the server handed out once. The server side
keeps only the token's SHA-256 (services/devices.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from twofa_cli.errors import BadInput
from twofa_cli.security import write_private_file

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Browser:
    def __init__(self, home: Path, name: str) -> None:
        if not _NAME.fullmatch(name or ""):
            raise BadInput("a device name is 1-64 letters, digits, '.', '_' or '-'")
        self.name = name
        self.path = home / "devices" / f"{name}.json"

    def _cookies(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def cookie(self, account_id: int) -> str | None:
        return self._cookies().get(str(account_id))

    def set_cookie(self, account_id: int, token: str) -> None:
        cookies = self._cookies()
        cookies[str(account_id)] = token
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        write_private_file(self.path, json.dumps(cookies))

    def clear(self) -> bool:
        """Forget every cookie, as when the user clears the browser's cookies."""
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False
