#!/usr/bin/env bash
# A sweep config on a GPU, in slices of at most $LIMIT seconds (default
# 450, so one call fits a device slot):
#
#   CONFIG=configs/experiments/sweep.py:methods,other12 DATA_DIR=.gpudata \
#     OUT=/tmp/out bash benchmarks/sweep_gpu.sh
#
# The sweep appends a row per finished run to $OUT/NAME.csv (NAME: the
# config file's name) and resumes from it, so calling this again on the
# same machine continues where the last call stopped. On a fresh machine,
# RESUME=path/to/an/earlier/NAME.csv is copied there first (with its
# .protocol.json), so a later session continues an earlier one's rows.
# Each call writes the summary of the rows so far to $OUT/NAME.summary/.
# Extra arguments go to the sweep (e.g. --config.sweep.datasets=A,B).
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/experiments/sweep.py:fawaz2019}
NAME=$(basename "$CONFIG" .py)
OUT=${OUT:-benchmarks/out}
DATA_DIR=${DATA_DIR:-../shared/data}
LIMIT=${LIMIT:-450}
ANCHORS=${ANCHORS:-$DATA_DIR/../reference/anchors_dev.csv}
[ -f "$ANCHORS" ] || ANCHORS=
mkdir -p "$OUT"
if [ -n "${RESUME:-}" ] && [ ! -f "$OUT/$NAME.csv" ]; then
  cp "$RESUME" "$OUT/$NAME.csv"
  [ -f "$RESUME.protocol.json" ] && cp "$RESUME.protocol.json" "$OUT/$NAME.csv.protocol.json"
fi
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
start=$(date +%s)
# SIGINT first: the run in progress is dropped, every finished row is kept.
timeout -s INT -k 20 "$LIMIT" python3 -m lstsaug_jax.experiments \
  --config="$CONFIG" --config.data_dir="$DATA_DIR" \
  --config.sweep.results_csv="$OUT/$NAME.csv" --config.sweep.summarize=False \
  --config.sweep.anchors= --config.progress=False \
  --config.compilation_cache_dir="$OUT/xla_cache" "$@" 2>&1 | tee -a "$OUT/$NAME.log"
echo "sweep slice: $(( $(date +%s) - start )) s" | tee -a "$OUT/$NAME.log"
python3 -m lstsaug_jax.experiments.summarize "$OUT/$NAME.csv" \
  ${ANCHORS:+--anchors="$ANCHORS"} --out="$OUT/$NAME.summary" \
  2>&1 | tee "$OUT/$NAME.summary.log"
