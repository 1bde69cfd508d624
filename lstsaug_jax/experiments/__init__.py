"""Experiment sweeps: datasets x methods x seeds, a results CSV, a summary.

  python -m lstsaug_jax.experiments --config=configs/experiments/cpu_small.py
  python -m lstsaug_jax.experiments.summarize RESULTS.csv
"""
