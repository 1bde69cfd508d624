#!/usr/bin/env bash
# dev26 under the fawaz2019 protocol on a GPU, in slices (sweep_gpu.sh):
#
#   DATA_DIR=/path/holding/UCRArchive_2018 OUT=/tmp/out bash benchmarks/dev26_gpu.sh
#
# Estimated from the H100 step times in benchmarks/results/h100-flops.json,
# the whole sweep (26 datasets x 3 methods, 3 seeds vmapped, 1500 epochs of
# about ten steps) needs several 450-second slices.
CONFIG=configs/experiments/sweep.py:fawaz2019 exec bash "$(dirname "$0")/sweep_gpu.sh" "$@"
