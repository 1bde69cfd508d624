"""Runs anywhere, offline, in under a minute on 2 CPU cores.

Generated Cylinder-Bell-Funnel data (no files), a short VAE, and baseline
vs augmented classifiers.
"""

from lstsaug_jax import defaults


def get_config():
  config = defaults.get_config()
  config.dataset = 'synthetic:cbf'
  config.synthetic_train_size = 30
  config.synthetic_test_size = 300
  config.num_epochs = 150  # the VAE's
  config.classifier.num_epochs = 25
  config.classifier.learning_rate = 1e-3
  config.baseline = True
  config.test_augment = True
  return config
