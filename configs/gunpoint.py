"""GunPoint (50 train / 150 test series of length 150, 2 classes)."""

from lstsaug_jax import defaults


def get_config():
  config = defaults.get_config()
  config.dataset = 'GunPoint'
  return config
