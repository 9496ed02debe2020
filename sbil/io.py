"""Crash-safe file helpers: atomic writes, sha256, and an output-directory lock.

Everything sbil writes goes through :func:`atomic_write` (temp file in the same folder + fsync +
rename), so a run killed at any instant leaves either the old file or the new one, never half of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Union

from sbil.errors import SbilError

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed over ``path``.

    Use it to let a third-party writer (``torch.save``, ``np.savez``, SB3's ``save``) write
    atomically. On an exception the temporary file is removed and ``path`` is left untouched.

    :param path: final destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: some writers (SB3, numpy) append one when it is missing.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: PathLike, data: Union[bytes, str]) -> None:
    """Write ``data`` to ``path`` atomically (all or nothing)."""
    with atomic_path(path) as tmp:
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(tmp, mode) as f:
            f.write(data)


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Serialise ``obj`` as indented JSON and write it atomically."""
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _fsync_dir(path: Path) -> None:
    # The rename itself must reach the disk too, or a power cut can undo it.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def first_hash_problem(root: PathLike, hashes: dict[str, str]) -> tuple[Path, str] | None:
    """The first listed file under ``root`` that is missing or fails its sha256.

    :param hashes: relative path -> expected hex sha256.
    :return: ``(path, "missing" | "corrupt")``, or ``None`` when every file verifies.
    """
    for rel, digest in hashes.items():
        path = Path(root) / rel
        if not path.is_file():
            return path, "missing"
        if sha256_file(path) != digest:
            return path, "corrupt"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """An exclusive lock on an output directory, so two jobs never write the same run.

    The lock file holds the owner's pid and host. A lock left by a process that no longer exists
    (killed with SIGKILL, machine rebooted) is stale: it is taken over with a warning.

    :param directory: the run's output directory (created if missing).
    """

    def __init__(self, directory: PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / ".lock"
        self._held = False

    def acquire(self) -> "RunLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read_owner()
                if owner is not None and owner.get("pid") == os.getpid():
                    break  # re-entrant within one process
                if owner is not None and owner.get("host") == me["host"] and _pid_alive(int(owner["pid"])):
                    raise SbilError(
                        f"Output directory {self.directory} is in use by a running job "
                        f"(pid {owner['pid']}). Choose another output directory, or stop that job first."
                    )
                if owner is not None and owner.get("host") != me["host"]:
                    raise SbilError(
                        f"Output directory {self.directory} is locked by a job on host {owner.get('host')} "
                        f"(pid {owner.get('pid')}). If that job is dead, delete {self.path} and retry."
                    )
                warnings.warn(f"Removing stale lock {self.path} left by a process that no longer runs ({owner}).")
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        self._held = True
        return self

    def _read_owner(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
            int(owner["pid"])
            return owner
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable lock: treat as stale

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
