"""A sweep that finishes in about 20 minutes on a 2-core CPU: the 14 shared
datasets with the fewest training values (series x length), 3 seeds, the
baseline and LSTSAUG's default augmentation (noise 0.1, one synthetic series
per original), under the fawaz2019 protocol cut to 40 classifier epochs
(plateau patience 5).

  python -m lstsaug_jax.experiments --config=configs/experiments/cpu_small.py
"""

from configs.experiments import fawaz2019

DATASETS = (
    'Chinatown', 'ItalyPowerDemand', 'SmoothSubspace',
    'SonyAIBORobotSurface1', 'MoteStrain', 'TwoLeadECG', 'ECGFiveDays',
    'CBF', 'GunPoint', 'ECG200', 'Coffee', 'ArrowHead', 'Plane',
    'SyntheticControl')


def get_config():
  config = fawaz2019.get_config()
  config.sweep.datasets = DATASETS
  config.classifier.num_epochs = 40
  config.classifier.plateau_patience = 5
  config.sweep.augmentations = ('latent(noise=0.1)',)
  config.sweep.results_csv = 'results/experiments/cpu_small.csv'
  return config
