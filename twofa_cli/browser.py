"""Simulated browsers for the CLI: each keeps its "Trust this device" cookies and its
login sessions.

A browser named NAME is the file ``TWOFA_HOME/devices/NAME.json`` (owner-only),
mapping account ids to the "Trust this device" token the server handed out once, and
``session:ID`` to the account's login session token. The server side keeps only each
token's SHA-256 (services/devices.py, services/sessions.py). The file and its folder
are handled by files.py: never through a symlink, replaced atomically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from twofa_cli import files
from twofa_cli.errors import BadInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what security.new_device_token hands out


class Browser:
    def __init__(self, home: Path, name: str) -> None:
        if not _NAME.fullmatch(name or ""):
            raise BadInput("a device name is 1-64 letters, digits, '.', '_' or '-'")
        self.name = name
        self.folder = home / files.DEVICES
        self.path = self.folder / f"{name}.json"
        # Refuse a folder or cookie file that is a symlink, someone else's or the wrong
        # type now, before the command changes anything in the store.
        if files.inspect(self.folder, folder=True):
            files.inspect(self.path, secret=True)

    def _cookies(self) -> dict:
        files.inspect(self.folder, folder=True)
        content = files.read_private(self.path, secret=True)  # a token stands in for a code
        try:
            data = json.loads(content) if content else {}
        except ValueError:  # not JSON, or not UTF-8: a browser with garbage cookies has none
            return {}
        return data if isinstance(data, dict) else {}

    def cookie(self, account_id: int) -> str | None:
        """The account's token; anything that cannot be one (a number, a list, non-ASCII)
        is no cookie at all, so the login falls back to a code."""
        token = self._cookies().get(str(account_id))
        return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None

    def set_cookie(self, account_id: int, token: str) -> None:
        self._set(str(account_id), token)

    def session(self, account_id: int) -> str | None:
        """The account's login session token, as ``login`` or ``verify`` last handed it."""
        token = self._cookies().get(f"session:{account_id}")
        return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None

    def set_session(self, account_id: int, token: str | None) -> None:
        self._set(f"session:{account_id}", token)

    def _set(self, key: str, token: str | None) -> None:
        cookies = self._cookies()
        if token is None:
            if cookies.pop(key, None) is None:
                return
        else:
            cookies[key] = token
        files.make_private_folder(self.folder)
        files.write_private(self.path, json.dumps(cookies))

    def clear(self) -> bool:
        """Forget every cookie and session, as when the user clears the browser's cookies."""
        return files.inspect(self.folder, folder=True) is not None and files.remove(self.path)
