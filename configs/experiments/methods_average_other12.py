"""methods_average.py (the averaged model for every arm) on the other 12
shared datasets.
  python -m lstsaug_jax.experiments --config=configs/experiments/methods_average_other12.py
"""

from configs.experiments import methods_average
from configs.experiments import methods_other12


def get_config():
  config = methods_average.get_config()
  config.sweep.datasets = methods_other12.DATASETS
  config.sweep.results_csv = 'results/experiments/methods_average_other12.csv'
  return config
