"""Checkpoints that survive SIGKILL: written to a temp folder, verified on load.

A checkpoint is a folder ``<run>/checkpoints/step_<N>/`` with any number of files and a
``checkpoint.json`` listing each file's sha256. The folder is assembled under a temporary name and
renamed into place only when complete, so a checkpoint either exists whole or not at all. On load,
hashes are checked again; a torn or tampered checkpoint is skipped with a warning and the previous
one is used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from sbil.errors import SbilError
from sbil.io import PathLike, _fsync_dir, atomic_write_json, first_hash_problem, sha256_file

MANIFEST = "checkpoint.json"


def save_checkpoint(
    checkpoint_dir: PathLike,
    step: int,
    writers: Mapping[str, Callable[[Path], None]],
    meta: Optional[Mapping[str, Any]] = None,
    keep: int = 2,
) -> Path:
    """Write one checkpoint atomically and prune old ones.

    :param checkpoint_dir: the folder holding all checkpoints of a run.
    :param step: env steps done; names the checkpoint (``step_<step>``).
    :param writers: file name -> function writing that file to the given path.
    :param meta: JSON-serialisable extras stored in the manifest (counters, RNG state...).
    :param keep: how many most recent checkpoints to keep (at least 2, so a torn latest one
        always has a fallback).
    :return: the path of the new checkpoint folder.
    """
    root = Path(checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:012d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step_{step:012d}.", suffix=".tmp", dir=root))
    try:
        hashes = {}
        for name, write in writers.items():
            write(tmp / name)
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
            hashes[name] = sha256_file(tmp / name)
        atomic_write_json(tmp / MANIFEST, {"step": int(step), "files": hashes, "meta": dict(meta or {})})
        if final.exists():  # re-saving the same step (e.g. SIGTERM right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for old in list_checkpoints(root)[: -max(keep, 2)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(checkpoint_dir: PathLike) -> list[Path]:
    """Checkpoint folders of a run, oldest first (unverified)."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def verify_checkpoint(path: PathLike) -> dict:
    """Check a checkpoint folder against its manifest and return the manifest.

    :raises SbilError: when the manifest is missing or unreadable, or a file is missing or
        does not match its recorded sha256.
    """
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SbilError(f"Checkpoint {path} has no readable {MANIFEST} ({e}).") from None
    problem = first_hash_problem(path, files)
    if problem is not None:
        f, kind = problem
        raise SbilError(f"Checkpoint file {f} is {kind} (sha256 listed in {MANIFEST}).")
    return manifest


def latest_checkpoint(checkpoint_dir: PathLike) -> Optional[tuple[Path, dict]]:
    """The newest checkpoint that verifies, with its manifest; ``None`` if there is none.

    Newer checkpoints that fail verification are skipped with a warning.
    """
    for path in reversed(list_checkpoints(checkpoint_dir)):
        try:
            return path, verify_checkpoint(path)
        except SbilError as e:
            warnings.warn(f"{e} Falling back to the previous checkpoint.")
    return None


def require_checkpoint(checkpoint_dir: PathLike, rerun_hint: str) -> tuple[Path, dict]:
    """Like :func:`latest_checkpoint`, but a missing checkpoint is an error for ``--resume``."""
    found = latest_checkpoint(checkpoint_dir)
    if found is None:
        existing = list_checkpoints(checkpoint_dir)
        what = "no valid checkpoint (all are corrupt)" if existing else "no checkpoint"
        raise SbilError(f"--resume: {Path(checkpoint_dir)} holds {what}. {rerun_hint}")
    return found
