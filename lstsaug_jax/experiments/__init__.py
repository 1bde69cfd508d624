"""Experiment sweeps: datasets x methods x seeds, a results CSV, a summary.

  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:cpu_small
  python -m lstsaug_jax.experiments.summarize RESULTS.csv
"""
