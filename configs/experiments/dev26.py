"""All 26 datasets in ../shared/data, 3 seeds, under the fawaz2019 protocol.

  python -m lstsaug_jax.experiments --config=configs/experiments/dev26.py
"""

from configs.experiments import fawaz2019

DATASETS = (
    'ArrowHead', 'Beef', 'BeetleFly', 'CBF', 'Chinatown', 'Coffee',
    'DiatomSizeReduction', 'DodgerLoopGame', 'ECG200', 'ECGFiveDays',
    'FaceFour', 'GunPoint', 'ItalyPowerDemand', 'Lightning7', 'Meat',
    'MoteStrain', 'OSULeaf', 'PickupGestureWiimoteZ', 'Plane',
    'SmoothSubspace', 'SonyAIBORobotSurface1', 'SyntheticControl',
    'ToeSegmentation1', 'Trace', 'TwoLeadECG', 'Wine')


def get_config():
  config = fawaz2019.get_config()
  config.sweep.datasets = DATASETS
  config.sweep.results_csv = 'results/experiments/dev26.csv'
  return config
