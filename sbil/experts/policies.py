"""Loading an expert from its file: an SB3 policy (``expert.zip``) or a controller (``expert.json``).

Controller files name their kind (open-loop, MPC, MPC with look-ahead), never a module path, so a
shipped expert loads whatever the code's layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbil.errors import SbilError
from sbil.experts.controllers import FORMAT, OpenLoopController
from sbil.experts.mpc import BranchingPlanner, PredictiveSampling
from sbil.io import PathLike
from sbil.sb3.algos import get_algo


def load_controller(path: Path) -> Any:
    """Read a controller JSON file, with an error naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT or data.get("kind") not in ("open_loop", "mpc", "mpc_branching"):
            raise ValueError(f"not an {FORMAT} controller (kind open_loop, mpc or mpc_branching)")
        if data["kind"] == "mpc":
            return PredictiveSampling.from_dict(data)
        if data["kind"] == "mpc_branching":
            return BranchingPlanner.from_dict(data)
        return OpenLoopController(data["pose"], data["ramp"], data.get("amplitude"), data.get("phase"), data.get("period", 0))
    except (OSError, ValueError, KeyError, TypeError, SbilError) as e:
        raise SbilError(f"Controller file {path} does not load ({type(e).__name__}: {e}).") from None


def load_expert_policy(path: PathLike, algo: str, regenerate: str = "") -> Any:
    """Load an expert: an SB3 file, or a controller JSON (``algo="controller"``), with an error
    naming the file and how to regenerate it."""
    path = Path(path)
    hint = f" Regenerate it: {regenerate}" if regenerate else ""
    if not path.is_file():
        raise SbilError(f"Expert policy {path} does not exist.{hint}")
    if algo == "controller":
        try:
            return load_controller(path)
        except SbilError as e:
            raise SbilError(f"{e}{hint}") from None
    try:
        return get_algo(algo).load(path, device="cpu")
    except Exception as e:  # noqa: BLE001 - any failure means the file is unusable
        raise SbilError(f"Expert policy {path} does not load ({type(e).__name__}: {e}).{hint}") from None
