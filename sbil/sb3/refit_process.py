"""Reward-learner refits in a child process, so that they overlap the RL algorithm's own work.

On-policy SMILING refits its learner score net once per rollout; on one core that regression is
most of SMILING's cost. :class:`RefitProcess` runs it in a child process on another core while the
algorithm updates its policy and collects the next rollout. The numbers are identical to refitting
in place: every refit starts from the parent's current learner state and runs the very same
``update`` on the very same transitions.

What crosses the process boundary is kept small, because the parent waits for it: the child keeps
one learner object (rebuilt only when a different learner is submitted) and a mirror of the
learner-transition ring buffer, so a refit sends the learner's state (tens of kB), the transitions
added since the last refit and the sampled indices, and gets the refitted state back. (A thread
does not pay: the refit and PPO's update both hold the GIL most of the time.)

The child is a plain ``python -c "...refit_process._main..."`` started with :mod:`subprocess`, not a
``multiprocessing`` spawn: it never re-imports the user's ``__main__``, so training scripts need no
``if __name__ == "__main__":`` guard. It runs in its own session (a Ctrl-C in the terminal goes to
the parent, which checkpoints; the child finishes its refit) and exits when the parent closes the
connection or dies. POSIX only.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

import numpy as np

from sbil.errors import SbilError

TRANSITION_KEYS = ("obs", "acts", "next_obs", "dones")


def _dumps(obj: Any) -> bytes:
    # Plain pickle: torch's multiprocessing reductions (shared-memory tensors passed as file
    # descriptors) only work between processes that multiprocessing itself started.
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def why_not_in_child(reward: Any) -> Optional[str]:
    """Why ``reward`` cannot refit in a child process (a sentence), or None when it can."""
    from sbil.rewards.base import RewardLearner

    cls = type(reward)
    if os.name != "posix":
        return "refits in a child process need a POSIX system."
    if not isinstance(reward, RewardLearner) or not cls.portable_update:
        return (f"{cls.__name__} does not declare portable_update (its update needs more than its saved state), "
                "so a copy in a child process would refit differently.")
    if reward.device.type != "cpu":
        return f"the reward learner is on {reward.device}; child-process refits are for CPU runs."
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return (f"the child process cannot import {cls.__qualname__} (defined in {cls.__module__}); "
                "define it in an importable module.")
    return None


def _serve(conn: Connection) -> None:
    """The child's loop: apply buffer writes, load the parent's learner state, refit, reply."""
    from sbil.rewards.base import load_reward

    learner: Any = None
    data: dict[str, np.ndarray] = {}
    while True:
        try:
            job = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the parent closed the connection or died: nothing left to do
            return
        if job is None:
            return
        try:
            if job["learner_file"] is not None:
                # The parent's own learner class, wherever it is defined (a user's module too).
                learner = load_reward(job["learner_file"], device="cpu", allowed_modules=[job["module"]])
            if job["data"] is not None:
                data = job["data"]
            elif job["writes"] is not None:
                positions, values = job["writes"]
                for key in TRANSITION_KEYS:
                    data[key][positions] = values[key]
            learner._load_state(job["state"])
            learner.version = job["version"]
            idx = job["idx"]
            t0 = time.perf_counter()
            stats = learner.update(*(data[key][idx] for key in TRANSITION_KEYS))
            seconds = time.perf_counter() - t0
            reply = ("ok", (stats, seconds, learner._state(), learner.version, getattr(learner, "last_stats", None)))
        except SbilError as e:
            reply = ("error", str(e))
        except Exception:  # noqa: BLE001 - any failure is reported to the parent, which raises it
            reply = ("error", f"The refit process failed:\n{traceback.format_exc()}")
        try:
            conn.send_bytes(_dumps(reply))
        except OSError:  # the parent died mid-refit (BrokenPipeError): no one to tell, so no traceback
            return


class RefitProcess:
    """One child process that runs ``reward.update`` on a copy of ``reward`` (see the module doc).

    :param threads: torch CPU threads in the child (one is plenty: a refit takes a fraction of a
        rollout, and the point is to leave the parent's cores alone).
    """

    def __init__(self, threads: int = 1) -> None:
        parent_sock, child_sock = socket.socketpair()
        # The parent's import path, so that a reward learner from any module it imported loads.
        path = os.pathsep.join(p or os.getcwd() for p in sys.path)
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads), "SBIL_REFIT_THREADS": str(threads)}
        self._proc = subprocess.Popen(
            # -c, not -m: runpy would warn that sbil.sb3 (whose __init__ imports this module) had
            # already imported it.
            [sys.executable, "-c", "import sys; from sbil.sb3.refit_process import _main; _main(sys.argv[1:])", str(child_sock.fileno())],
            pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        child_sock.close()
        self._conn = Connection(parent_sock.detach())
        self._dir = tempfile.TemporaryDirectory(prefix="sbil-refit-")
        self._learner_file = Path(self._dir.name) / "reward.pt"
        self._reward: Optional[Any] = None  # the learner whose refit is running
        self._child_learner: Optional[int] = None  # id of the learner object the child has a copy of
        self._synced: Optional[tuple[int, int]] = None  # (data generation, transitions added) the child mirrors
        self._sender: Optional[threading.Thread] = None
        self._send_error: Optional[BaseException] = None

    @property
    def busy(self) -> bool:
        return self._reward is not None

    def submit(self, reward: Any, data: dict[str, np.ndarray], pos: int, added: int, generation: int, idx: np.ndarray) -> None:
        """Start ``reward.update`` on ``data[key][idx]`` in the child; ``reward`` must not change until :meth:`result`.

        :param data: the ring buffer's arrays (``obs``, ``acts``, ``next_obs``, ``dones``).
        :param pos: the ring's next write position.
        :param added: transitions ever added to the ring (tells which are new since the last refit).
        :param generation: changes whenever ``data`` is replaced (e.g. loaded from a checkpoint).
        :param idx: the transitions to refit on.
        """
        if self.busy:
            raise SbilError("RefitProcess.submit: the previous refit has not been collected; call result() first.")
        reason = why_not_in_child(reward)
        if reason:
            raise SbilError(f"RefitProcess.submit: {reason}")
        job: dict[str, Any] = {"learner_file": None, "data": None, "writes": None}
        if self._child_learner != id(reward):
            reward.save(self._learner_file)  # builds the child's copy: its class, config and spaces
            job["learner_file"] = str(self._learner_file)
            job["module"] = type(reward).__module__
        capacity = len(data["dones"])
        new = added - self._synced[1] if self._synced is not None and self._synced[0] == generation else capacity + 1
        if new > capacity:
            job["data"] = data
        elif new > 0:
            positions = (pos - new + np.arange(new)) % capacity
            job["writes"] = (positions, {key: data[key][positions] for key in TRANSITION_KEYS})
        small_idx = idx.astype(np.int32) if capacity < 2**31 else idx
        job.update(state=reward._state(), version=reward.version, idx=small_idx)
        payload = _dumps(job)
        # The write blocks until the child has read it all (a new child is still importing torch):
        # a thread does it, so the algorithm goes on meanwhile (socket writes release the GIL).
        self._sender = threading.Thread(target=self._send, args=(payload,), daemon=True, name="sbil-refit-send")
        self._sender.start()
        self._reward, self._child_learner, self._synced = reward, id(reward), (generation, added)

    def _send(self, payload: bytes) -> None:
        try:
            self._conn.send_bytes(payload)
        except OSError as e:
            self._send_error = e

    def result(self) -> tuple[dict[str, float], float]:
        """Wait for the refit, copy the refitted state into the submitted learner; return its
        stats and the seconds ``update`` took in the child."""
        reward, self._reward = self._reward, None
        if reward is None:
            raise SbilError("RefitProcess.result: no refit is running.")
        if self._sender is not None:
            self._sender.join()
            self._sender = None
        try:
            if self._send_error is not None:
                raise self._send_error
            status, value = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._child_learner = None
            raise self._died() from None
        if status == "error":
            self._child_learner = None  # rebuild the child's copy before trusting it again
            raise SbilError(value)
        stats, seconds, state, version, last_stats = value
        reward._load_state(state)
        reward.version = version
        if last_stats is not None:
            reward.last_stats = last_stats
        return stats, seconds

    def _died(self) -> SbilError:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return SbilError(f"The refit process died (exit code {code}); the run cannot continue. "
                         "Resume from the last checkpoint, or set reward.refit_in_process=false.")

    def close(self) -> None:
        if self._sender is not None:
            self._sender.join(timeout=10)
        if self._proc.poll() is None:
            try:
                self._conn.send_bytes(_dumps(None))
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._conn.close()
        self._dir.cleanup()


def _main(argv: list[str]) -> None:
    import signal

    # The parent decides when to stop (it closes the connection); a Ctrl-C meant for it must not
    # kill a refit it is about to collect for its checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch as th

    th.set_num_threads(int(os.environ.get("SBIL_REFIT_THREADS", "1")))
    _serve(Connection(int(argv[0])))

