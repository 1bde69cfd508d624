#!/usr/bin/env bash
# dev26 under the fawaz2019 protocol on a GPU, in slices of at most
# $LIMIT seconds (default 450, so one call fits an 8-minute device slot):
#
#   DATA_DIR=/path/holding/UCRArchive_2018 OUT=/tmp/out bash benchmarks/dev26_gpu.sh
#
# The sweep appends a row per finished run to $OUT/dev26.csv and resumes
# from it, so calling this again continues where the last call stopped;
# each call writes the summary of the rows so far to $OUT/dev26.summary/.
# Estimated from the H100 step times in benchmarks/results/h100-flops.json,
# the whole sweep (26 datasets x 3 methods, 3 seeds vmapped, 1500 epochs of
# about ten steps) needs several such slices.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out}
DATA_DIR=${DATA_DIR:-../shared/data}
LIMIT=${LIMIT:-450}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
start=$(date +%s)
# SIGINT first: the run in progress is dropped, every finished row is kept.
timeout -s INT -k 20 "$LIMIT" python3 -m lstsaug_jax.experiments \
  --config=configs/experiments/dev26.py --config.data_dir="$DATA_DIR" \
  --config.sweep.results_csv="$OUT/dev26.csv" --config.sweep.summarize=False \
  --config.sweep.anchors= --config.progress=False \
  --config.compilation_cache_dir="$OUT/xla_cache" 2>&1 | tee -a "$OUT/dev26.log"
echo "sweep slice: $(( $(date +%s) - start )) s" | tee -a "$OUT/dev26.log"
python3 -m lstsaug_jax.experiments.summarize "$OUT/dev26.csv" \
  --anchors="$DATA_DIR/../reference/anchors_dev.csv" --out="$OUT/dev26.summary" \
  2>&1 | tee "$OUT/dev26.summary.log"
