"""methods_final.py (the final model for every arm) on the other 12 shared
datasets: the check, on datasets that chose nothing, of the method that
did best on cpu_small's 14 under that protocol.

  python -m lstsaug_jax.experiments --config=configs/experiments/methods_final_other12.py
"""

from configs.experiments import methods_final
from configs.experiments import methods_other12


def get_config():
  config = methods_final.get_config()
  config.sweep.datasets = methods_other12.DATASETS
  config.sweep.augmentations = ('jitter(mode=online)',)
  config.sweep.results_csv = 'results/experiments/methods_final_other12.csv'
  return config
