"""SB3 loggers that continue cleanly after a resume."""

from __future__ import annotations

import sys
from pathlib import Path

from stable_baselines3.common.logger import HumanOutputFormat, KVWriter, Logger, TensorBoardOutputFormat


def make_logger(run_dir: Path, resume_step: int = 0, stdout: bool = False) -> Logger:
    """A logger writing tensorboard events to ``run_dir/tb`` (and tables to stdout if asked).

    On resume, tensorboard is told to drop any events logged after ``resume_step`` by the
    interrupted process (``purge_step``), so curves have no duplicated points.
    """
    tb_dir = run_dir / "tb"
    tb_dir.mkdir(parents=True, exist_ok=True)
    formats: list[KVWriter] = []
    if stdout:
        formats.append(HumanOutputFormat(sys.stdout))
    tb = TensorBoardOutputFormat(str(tb_dir))
    if resume_step > 0:
        from torch.utils.tensorboard import SummaryWriter

        tb.writer.close()
        tb.writer = SummaryWriter(log_dir=str(tb_dir), purge_step=resume_step)
    formats.append(tb)
    return Logger(folder=str(run_dir), output_formats=formats)
