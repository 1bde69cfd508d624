#!/usr/bin/env bash
# Every GPU figure in one run (about 9 minutes), on a machine where JAX,
# Flax, Optax and Orbax are installed (ml-collections is installed from
# ./.whl if that folder holds its wheel):
#
#   DATA_DIR=/path/holding/UCRArchive_2018 OUT=/tmp/out bash benchmarks/device_check.sh
#
# Writes $OUT/benchmark.json (step times, FLOPs, matmul peak, seeds
# scaling, the GunPoint default pipeline with an empty compilation cache and
# again with the cache it filled: wall time, programs built and read from
# the cache, compile/trace/lower seconds per stage, checkpoint save time),
# its log, the log of the GPU run of the numerical tests, the programs a
# sweep over $SWEEP_DATASETS compiles with and without shape buckets
# ($OUT/sweep_programs.json; SWEEP_DATASETS= skips it), and a slice of the
# dev26 sweep of $DEV26_LIMIT seconds (default 120; 0 skips it) in
# $OUT/dev26.csv; with OTHER12_LIMIT=S (default 0: skipped), S seconds of
# the methods sweep on the other 12 shared datasets ($OUT/methods_other12.csv,
# resumed from $OTHER12_RESUME if given: the rows so far are
# benchmarks/results/methods_other12_gpu/methods_other12.csv). The sweep
# goes dataset by dataset, so OTHER12_METHODS (a sweep.augmentations tuple)
# defaults to the four methods those rows started, and adding the others
# (e.g. "('latent','latent_class','jitter','magnitude_warp','scaling',
# 'time_warp','window_warp','mixup')") is a later call's job.
# DETERMINISM_EPOCHS=N (default 100; 0 skips it) runs a GunPoint baseline of
# N epochs twice with `deterministic` on and twice off, each compiling
# afresh ($OUT/determinism.json: whether the runs repeat, and their times).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out}
DATA_DIR=${DATA_DIR:-../shared/data}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import jax, flax, optax, orbax.checkpoint, sys; print(sys.version.split()[0], 'jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" | tee -a "$OUT/gpu.txt"
timeout ${BENCH_LIMIT:-360} python3 -m lstsaug_jax.benchmark --data_dir="$DATA_DIR" \
  --end_to_end_seeds=${E2E_SEEDS:-1} --online= --seeds=${SEEDS:-1,2,4,8} \
  --json="$OUT/benchmark.json" 2>&1 \
  | grep -v -e '^W' -e '^I' | tee "$OUT/benchmark.log"
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout ${TESTS_LIMIT:-120} python3 -m pytest -q -p no:cacheprovider \
    ${TESTS:-tests/test_models.py tests/test_train.py tests/test_augment.py tests/test_buckets.py} \
    2>&1 | tail -5 | tee "$OUT/tests_gpu.log"
fi
if [ "${DETERMINISM_EPOCHS:-100}" -gt 0 ]; then
  timeout ${DETERMINISM_LIMIT:-240} python3 benchmarks/determinism.py --config=configs/gunpoint.py \
    --runs=2 --settings=True,False --override=--config.data_dir="$DATA_DIR" \
    --override=--config.baseline=True --override=--config.num_epochs=$DETERMINISM_EPOCHS \
    --json="$OUT/determinism.json" 2>&1 | grep -v -e '^W' -e '^I' | tee "$OUT/determinism.log"
fi
SWEEP_DATASETS=${SWEEP_DATASETS-GunPoint,ECG200,Coffee,ArrowHead,Plane,SyntheticControl}
if [ -n "$SWEEP_DATASETS" ]; then
  timeout ${SWEEP_LIMIT:-240} python3 benchmarks/sweep_programs.py --data_dir="$DATA_DIR" \
    --datasets="$SWEEP_DATASETS" --buckets=off,on --json="$OUT/sweep_programs.json" 2>&1 \
    | grep -v -e '^W' -e '^I' | tee "$OUT/sweep_programs.log"
fi
if [ "${DEV26_LIMIT:-120}" -gt 0 ]; then
  LIMIT=${DEV26_LIMIT:-120} DATA_DIR="$DATA_DIR" OUT="$OUT" bash benchmarks/dev26_gpu.sh
fi
if [ "${OTHER12_LIMIT:-0}" -gt 0 ]; then
  CONFIG=configs/experiments/sweep.py:methods,other12 LIMIT=$OTHER12_LIMIT \
    RESUME=${OTHER12_RESUME:-} DATA_DIR="$DATA_DIR" OUT="$OUT" \
    bash benchmarks/sweep_gpu.sh \
    --config.sweep.augmentations="${OTHER12_METHODS:-('jitter(mode=online)','window_slice(mode=online)','magnitude_warp(mode=online)','window_slice')}"
fi
