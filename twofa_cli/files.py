"""Files under TWOFA_HOME: never through a symlink, written atomically, refused when others can reach them.

Everything twofa keeps on disk (the home, ``secret.key``, ``config.toml``, the SQLite
database with its ``-wal`` and ``-shm``, ``devices/`` and its cookies) goes through
here. A path that is a symlink, belongs to another user, or can be written by group or
others (for secrets: reached at all) is refused with the command that fixes it, never
repaired silently: a home someone else could write is a home someone else controls.
A path of the wrong type (a folder where a file belongs, a FIFO) is bad input.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from twofa_cli.errors import BadInput, Rejected

# The home's layout: config.py builds its settings on these names.
CONFIG_FILE = "config.toml"
DATABASE_FILE = "twofa.db"
KEY_FILE = "secret.key"
DEVICES = "devices"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_GROUP_OR_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_GROUP_OR_OTHERS_ANY = stat.S_IRWXG | stat.S_IRWXO


def check_home(home: Path) -> None:
    """Refuse a home (and its config.toml and devices/) that is unsafe to use."""
    inspect(home, folder=True)
    inspect(home / CONFIG_FILE)
    inspect(home / DEVICES, folder=True)


def inspect(path: Path, *, folder: bool = False, secret: bool = False) -> os.stat_result | None:
    """``lstat`` of ``path`` once it passed every check; None if there is nothing there."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, exc) from None
    _check(path, info, folder=folder, secret=secret)
    return info


def read_private(path: Path, *, secret: bool = False, limit: int = 1 << 20) -> bytes | None:
    """The bytes of a file twofa wrote, or None if it is missing.

    Opened without following a symlink and without blocking (a FIFO must not hang
    the command), then checked on the open descriptor so a swap cannot slip in.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, exc) from None
    try:
        _check(path, os.fstat(fd), folder=False, secret=secret)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def read_regular(path: Path, *, limit: int, what: str = "") -> bytes:
    """The bytes of a file the user names (an apply document, a secret's ``file:``), at
    most ``limit``; BadInput naming ``what`` (default: the path) otherwise.

    Only a regular file is read: a FIFO would hang the command, a device (``/dev/zero``)
    never ends. The path is checked before it is opened (opening some devices acts) and
    opened without blocking, then checked again on the open descriptor.
    """
    where = what or str(path)[:200]
    try:
        _regular(path, os.stat(path), limit, where)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadInput(f"{where}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{where}: cannot read it: {exc.strerror}") from None
    try:
        _regular(path, os.fstat(fd), limit, where)
        data = os.read(fd, limit + 1)
    except OSError as exc:
        raise BadInput(f"{where}: cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew since the check
        raise BadInput(f"{where} is larger than {limit // 1024} KiB")
    return data


def _regular(path: Path, info: os.stat_result, limit: int, where: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{where} is not a regular file (a FIFO, device or folder is never read)")
    if info.st_size > limit:
        raise BadInput(f"{where} is larger than {limit // 1024} KiB")


def write_private(path: Path, content: str | bytes, *, replace: bool = True) -> bool:
    """Write ``path`` owner-only and atomically: a temporary file in the same folder,
    synced, then renamed over ``path`` (or, with ``replace=False``, linked to it only
    if nothing is there yet). Neither step follows a symlink at ``path``; readers see
    the old file or the new one, never half of either.

    Returns False when ``replace=False`` and ``path`` already existed.
    """
    import tempfile

    data = content.encode("utf-8") if isinstance(content, str) else content
    inspect(path)
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp: O_EXCL | O_NOFOLLOW, mode 0600
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
    except OSError as exc:
        raise _unwritable(path, exc) from None
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass  # renamed into place
    _sync_folder(path.parent)
    return True


def make_private_folder(path: Path, *, parents: bool = False) -> bool:
    """Create ``path`` owner-only, or check the one that is there; True if created."""
    if inspect(path, folder=True) is not None:
        return False
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, PRIVATE_DIR)  # never follows a symlink: one there is EEXIST
    except FileExistsError:
        inspect(path, folder=True)  # made meanwhile by another process: it must pass too
        return False
    except OSError as exc:
        raise _unusable(path, exc) from None
    os.chmod(path, PRIVATE_DIR)  # whatever the umask
    return True


def create_private_file(path: Path) -> None:
    """Create an empty owner-only file if none is there (never through a symlink).
    OSError if it cannot be made: the caller knows what the file is for."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         PRIVATE_FILE))
    except FileExistsError:
        inspect(path)


def remove(path: Path) -> bool:
    """Delete a file twofa wrote (a symlink there is refused, not followed or removed)."""
    if inspect(path) is None:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _unwritable(path, exc) from None
    return True


def _check(path: Path, info: os.stat_result, *, folder: bool, secret: bool) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        raise _symlink(path, "folder" if folder else "file")
    if folder and not stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{path} is not a folder")
    if not folder and not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{path} is not a regular file")
    me = os.geteuid()
    if info.st_uid != me:
        raise Rejected(f"{path} belongs to uid {info.st_uid}, not to you (uid {me}): "
                       f"run `chown {me} {path}` if it is yours, or use a home of your own")
    wanted = PRIVATE_DIR if folder else PRIVATE_FILE
    if secret and mode & _GROUP_OR_OTHERS_ANY:
        raise Rejected(f"{path} holds a secret and is open to group or others (mode {mode:o}): "
                       f"run `chmod {wanted:o} {path}`")
    if mode & _GROUP_OR_OTHERS_WRITE:
        raise Rejected(f"{path} is writable by group or others (mode {mode:o}): "
                       f"run `chmod {wanted:o} {path}`")


def _symlink(path: Path, kind: str) -> Rejected:
    return Rejected(f"{path} is a symbolic link, which twofa never follows: "
                    f"use the path it points to, or replace it with a real {kind}")


def _unusable(path: Path, exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
        return _symlink(path, "file")
    if exc.errno == errno.ENOTDIR:
        return BadInput(f"{path}: a part of this path is a file, not a folder")
    return Rejected(f"cannot use {path}: {exc.strerror}")


def _unwritable(path: Path, exc: OSError) -> Exception:
    if exc.errno == errno.EISDIR:
        return BadInput(f"cannot write {path}: it is a folder")
    if exc.errno == errno.ENOTDIR:
        return _unusable(path, exc)
    return Rejected(f"cannot write {path}: {exc.strerror}")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
