"""The original script's default run: Symbols, 400 epochs."""

from lstsaug_jax import defaults


def get_config():
  config = defaults.get_config()
  config.dataset = 'Symbols'
  return config
