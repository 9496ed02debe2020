"""Where :class:`sbil.sb3.buffers.RelabelingReplayBuffer` lived before ``sbil.sb3``: kept only for
files saved on disk.

SB3 pickles ``replay_buffer_class`` into a SAC/TD3 ``model.zip`` and the buffer itself into
``replay_buffer.pkl``, both naming the class by this module's path; without it, checkpoints and
policies saved before the move would not load. New code imports from :mod:`sbil.sb3`.
"""

from sbil.sb3.buffers import RelabelingReplayBuffer  # noqa: F401
