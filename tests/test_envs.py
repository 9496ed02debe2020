import mujoco
import pytest

from sbil.envs import make_env


def test_the_settotalmass_deprecation_is_quiet_and_real_mujoco_warnings_are_not(capfd):
    # gymnasium's HalfCheetah model sets a compiler attribute MuJoCo 4 deprecates: a warning per env made, for nothing.
    ours, seen = mujoco.get_mju_user_warning(), []
    mujoco.set_mju_user_warning(seen.append)
    try:
        make_env("HalfCheetah-v5").close()
    finally:
        mujoco.set_mju_user_warning(ours)
    if not any("settotalmass" in message for message in seen):
        pytest.skip("this MuJoCo does not deprecate settotalmass: nothing to quieten")
    for _ in range(3):
        make_env("HalfCheetah-v5").close()
    assert "settotalmass" not in "".join(capfd.readouterr())
    model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>')
    data = mujoco.MjData(model)
    data.qvel[:] = 1e30  # an unstable simulation: MuJoCo must still say so
    mujoco.mj_step(model, data)
    assert "Nan, Inf or huge value in QVEL" in capfd.readouterr().err
