"""methods.py on the other 12 shared datasets (those not in cpu_small): the
check that a method which helps on cpu_small does not hurt elsewhere.

  python -m lstsaug_jax.experiments --config=configs/experiments/methods_other12.py
"""

from configs.experiments import cpu_small
from configs.experiments import dev26
from configs.experiments import methods

DATASETS = tuple(d for d in dev26.DATASETS if d not in cpu_small.DATASETS)


def get_config():
  config = methods.get_config()
  config.sweep.datasets = DATASETS
  config.sweep.results_csv = 'results/experiments/methods_other12.csv'
  return config
