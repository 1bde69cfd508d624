"""The original script's default run: Symbols, 400 epochs."""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'Symbols'
  return config
