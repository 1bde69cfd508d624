"""A seconds-long run for tests, on generated data: tiny models, few epochs.

  python -m lstsaug_jax.main --config=configs/tiny.py --config.baseline=True
  python -m lstsaug_jax.experiments --config=configs/tiny.py:sweep

(`:sweep`: with the sweep's fields, config.sweep.)
"""

from lstsaug_jax import defaults
from lstsaug_jax.experiments import defaults as sweep_defaults


def get_config(arg=None):
  config = defaults.get_config()
  config.dataset = 'synthetic:cbf'
  config.synthetic_train_size = 30
  config.synthetic_test_size = 90
  config.download = False
  config.num_epochs = 2
  config.batch_size = 16
  config.latent_dim = 4
  config.vae.hidden_dims = (16, 8)
  config.classifier.arch = 'resnet_tiny'
  config.progress = False
  if arg == 'sweep':
    config = sweep_defaults.with_sweep(config)
  elif arg:
    raise ValueError(f'configs/tiny.py takes no config string or "sweep"; '
                     f'got {arg!r}.')
  return config
