"""Reward-learner refits in a child process, so that they overlap the RL algorithm's own work.

On-policy SMILING refits its learner score net once per rollout; on one core that regression is
most of SMILING's cost. :class:`RefitProcess` runs it in a spawned child on another core while the
algorithm updates its policy and collects the next rollout. The child gets a copy of the learner
(through :meth:`RewardLearner.save`) and the sampled transitions, runs the very same
``update``, and sends the learner back: the numbers are identical to refitting in place. (A thread
does not pay: the refit and PPO's update both hold the GIL most of the time.)
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Optional

import numpy as np

from sbil.errors import SbilError


def _serve(conn: Any, threads: int) -> None:
    import torch as th

    from sbil.rewards.base import load_reward

    th.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent died (e.g. SIGKILL): nothing left to do
            return
        if job is None:
            return
        path, batch = job
        try:
            learner = load_reward(path, device="cpu")
            t0 = time.perf_counter()
            stats = learner.update(*batch)
            seconds = time.perf_counter() - t0
            learner.save(path)
            conn.send(("ok", (stats, seconds)))
        except SbilError as e:
            conn.send(("error", str(e)))
        except Exception:
            conn.send(("error", f"The refit process failed:\n{traceback.format_exc()}"))


class RefitProcess:
    """One spawned child process that runs ``reward.update`` on a copy of ``reward``.

    :param threads: torch CPU threads in the child.
    """

    def __init__(self, threads: int = 1) -> None:
        ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, threads), daemon=True, name="sbil-refit")
        self._proc.start()
        child.close()
        self._dir = tempfile.TemporaryDirectory(prefix="sbil-refit-")
        self._path = Path(self._dir.name) / "reward.pt"
        self._reward: Optional[Any] = None

    @property
    def busy(self) -> bool:
        return self._reward is not None

    def submit(self, reward: Any, batch: list[np.ndarray]) -> None:
        """Start ``reward.update(*batch)`` in the child; ``reward`` must not change until :meth:`result`."""
        if self.busy:
            raise SbilError("RefitProcess.submit: the previous refit has not been collected; call result() first.")
        if reward.device.type != "cpu":
            raise SbilError("Refits in a child process need the reward learner on the CPU; use refit_in_process=False on CUDA.")
        reward.save(self._path)
        self._conn.send((str(self._path), batch))
        self._reward = reward

    def result(self) -> tuple[dict[str, float], float]:
        """Wait for the refit, copy the refitted learner into the submitted one; return its stats
        and the seconds ``update`` took in the child."""
        from sbil.rewards.base import load_reward

        reward, self._reward = self._reward, None
        if reward is None:
            raise SbilError("RefitProcess.result: no refit is running.")
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            raise SbilError(f"The refit process died (exit code {self._proc.exitcode}); the run cannot continue. "
                            "Resume from the last checkpoint, or set reward.refit_in_process=false.") from None
        if status == "error":
            raise SbilError(value)
        refitted = load_reward(self._path, device="cpu")
        reward._load_state(refitted._state())
        reward.version = refitted.version
        if hasattr(refitted, "last_stats"):
            reward.last_stats = refitted.last_stats
        return value

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.terminate()
        self._conn.close()
        self._dir.cleanup()
