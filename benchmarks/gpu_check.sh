#!/usr/bin/env bash
# The GPU check of issue 13 in one command (at most 8 minutes on one H100/H200, no network):
#
#   bash benchmarks/gpu_check.sh                 # GPU: writes benchmarks/results/gpu_<device>.{json,md}
#   bash benchmarks/gpu_check.sh --out DIR       # the same, results into DIR
#   bash benchmarks/gpu_check.sh --smoke --out DIR   # CPU, tiny sizes, fake data, well under a minute
#
# On a machine without kornia (or jsonargparse) it installs the wheels in carry/wheels (`make gpu-carry`)
# with pip --no-index into a private folder; without data/FashionMNIST/raw it unpacks carry/data. The
# checkout itself is imported from here (PYTHONPATH): nothing is installed into the machine's Python.
# Arguments after the options above go to `python -m benchmarks.gpu_check` (e.g. --budget-s 300).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python3
fi
SMOKE=0
for a in "$@"; do [[ $a == --smoke ]] && SMOKE=1; done
SETUP=""

if ! "$PY" -c "import kornia, jsonargparse" 2>/dev/null; then
  if ! compgen -G "carry/wheels/*.whl" >/dev/null; then
    echo "gpu_check: this Python lacks kornia/jsonargparse and carry/wheels is empty: run \`make gpu-carry\`" \
         "on a machine with network and bring carry/ along" >&2
    exit 1
  fi
  SITE=${GPU_CHECK_SITE:-/tmp/gpu_check_site}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" carry/wheels/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  SETUP="installed from carry/wheels into $SITE: $(cd carry/wheels && ls *.whl | tr '\n' ' ')"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

ROOT=data
if [[ $SMOKE == 0 && ! -f data/FashionMNIST/raw/train-images-idx3-ubyte ]]; then
  if ! compgen -G "carry/data/*-ubyte.gz" >/dev/null; then
    echo "gpu_check: no data/FashionMNIST/raw and no carry/data: run \`make gpu-carry\` (or \`make data\`)" >&2
    exit 1
  fi
  ROOT=${GPU_CHECK_DATA:-/tmp/gpu_check_data}
  mkdir -p "$ROOT/FashionMNIST/raw"
  for f in carry/data/*-ubyte.gz; do gunzip -c "$f" >"$ROOT/FashionMNIST/raw/$(basename "${f%.gz}")"; done
  SETUP="$SETUP${SETUP:+; }Fashion-MNIST unpacked from carry/data into $ROOT"
fi

export GPU_CHECK_SETUP="$SETUP" GPU_CHECK_COMMAND="bash benchmarks/gpu_check.sh $*" PYTHONUNBUFFERED=1
# A hard stop a little past the 8 minutes (sections stop starting at --budget-s, 420 s): what finished is kept,
# the JSON and Markdown are rewritten after every section.
exec timeout --kill-after=15 "${GPU_CHECK_TIMEOUT:-500}" "$PY" -m benchmarks.gpu_check --root "$ROOT" "$@"
