"""GunPoint (50 train / 150 test series of length 150, 2 classes)."""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'GunPoint'
  return config
