#!/usr/bin/env bash
# Install sbil and everything it needs into ./.venv (idempotent: a no-op when nothing changed).
#   bash scripts/install.sh            # package + test tools + the Unitree H1 model (h1 extra)
#   SBIL_EXTRAS=test,ray bash scripts/install.sh
#   SBIL_VENV=.venv-dmc SBIL_EXTRAS=test,dmc bash scripts/install.sh   # DeepMind Control (mujoco 3.17)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${SBIL_EXTRAS:-test,h1}
VENV=${SBIL_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.sbil-installed"
want="$(cat setup.cfg scripts/install.sh | sha256sum | cut -c1-16)-$EXTRAS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
pip() { "$VENV/bin/python" -m pip "$@"; }
# torch first, pinned: a bare requirement would pull several GB of CUDA wheels on a CPU machine.
"$VENV/bin/python" -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -e ".[$EXTRAS]"
# imitation 1.0.1 pins SB3 2.2 / gymnasium 0.29, yet its GAIL, AIRL and BC run on this stack:
# install it without its pins (pip check will list them; that is expected).
pip install -q --no-deps imitation==1.0.1
echo "$want" > "$stamp"
