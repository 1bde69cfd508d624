"""The noise settings of cpu_small_noise, each trained on 75% of every
training set and evaluated on the held-out 25% (stratified); the test sets
are not used. `summarize --select_on` takes, per dataset, the setting with
the best mean validation accuracy.
"""

from configs.experiments import cpu_small_noise


def get_config():
  config = cpu_small_noise.get_config()
  config.validation_fraction = 0.25
  config.sweep.baseline = False  # only the settings are compared
  config.sweep.summarize = False
  config.sweep.results_csv = 'results/experiments/cpu_small_validation.csv'
  return config
