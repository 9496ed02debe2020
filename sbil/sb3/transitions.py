"""The learner's newest transitions, kept in a fixed-size ring: what reward refits draw from."""

from __future__ import annotations

from typing import Any

import numpy as np

from sbil.errors import SbilError

#: the fields of a transition, in the order reward learners take them
KEYS = ("obs", "acts", "next_obs", "dones")


def newest_slots(pos: int, capacity: int, ages: np.ndarray) -> np.ndarray:
    """Ring slots of the transitions ``ages`` steps older than the newest (age 0: the newest,
    which sits just before ``pos``)."""
    return (pos - 1 - np.asarray(ages)) % capacity


class TransitionRing:
    """A bounded store of ``(obs, acts, next_obs, dones)``: the newest ``capacity`` transitions,
    the oldest overwritten first, so that a refit's cost does not grow with the run.

    :param capacity: transitions kept (the reference keeps 200k).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise SbilError(f"TransitionRing: capacity={capacity} is invalid; it must be >= 1.")
        self.capacity = int(capacity)
        self.data: dict[str, np.ndarray] = {}  # allocated at the first add (shapes come with the data)
        self.pos = 0  # the next slot to write
        self.full = False
        self.added = 0  # transitions ever added (a refit child process mirrors the ring by it)
        self.generation = 0  # changes whenever ``data`` is replaced

    @property
    def size(self) -> int:
        return self.capacity if self.full else self.pos

    def allocate(self, obs_shape: tuple[int, ...], act_shape: tuple[int, ...]) -> None:
        n = self.capacity
        self.generation += 1
        self.data = {"obs": np.zeros((n, *obs_shape), np.float32), "acts": np.zeros((n, *act_shape), np.float32),
                     "next_obs": np.zeros((n, *obs_shape), np.float32), "dones": np.zeros(n, bool)}

    def add(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> None:
        """Write ``n <= capacity`` transitions (arrays of ``n`` rows, any trailing layout) at the ring's head."""
        n = len(dones)
        idx = (self.pos + np.arange(n)) % self.capacity
        for key, arr in zip(KEYS, (obs, acts, next_obs, dones)):
            self.data[key][idx] = np.asarray(arr).reshape(n, *self.data[key].shape[1:])
        self.full = self.full or self.pos + n >= self.capacity
        self.pos = int((self.pos + n) % self.capacity)
        self.added += n

    def extend(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> None:
        """Validated :meth:`add` of any number of transitions (more than ``capacity``: the newest are kept)."""
        obs, acts, next_obs, dones = (np.asarray(a) for a in (obs, acts, next_obs, dones))
        if not (len(obs) == len(acts) == len(next_obs) == len(dones)):
            raise SbilError(f"add_transitions: obs, acts, next_obs and dones differ in length ({len(obs)}, {len(acts)}, {len(next_obs)}, {len(dones)}).")
        if not self.data:
            self.allocate(obs.shape[1:], acts.shape[1:])
        if obs.shape[1:] != self.data["obs"].shape[1:] or acts.shape[1:] != self.data["acts"].shape[1:]:
            raise SbilError(f"add_transitions: got obs {obs.shape[1:]} / actions {acts.shape[1:]}, expected "
                            f"{self.data['obs'].shape[1:]} / {self.data['acts'].shape[1:]}.")
        for start in range(0, len(obs), self.capacity):
            end = start + self.capacity
            self.add(obs[start:end], acts[start:end], next_obs[start:end], dones[start:end])

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """The transitions in slots ``idx``, as ``(obs, acts, next_obs, dones)``."""
        return tuple(self.data[key][idx] for key in KEYS)

    def state_dict(self) -> dict[str, Any]:
        return {"pos": self.pos, "full": self.full, "data": self.data}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos, self.full = int(state["pos"]), bool(state["full"])
        self.data = {k: np.asarray(v) for k, v in state["data"].items()}
        self.generation += 1
