"""A seconds-long run for tests: tiny models, few epochs."""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'GunPoint'
  config.data_dir = '../shared/data'
  config.num_epochs = 2
  config.batch_size = 16
  config.latent_dim = 4
  config.vae.hidden_dims = (16, 8)
  config.classifier.arch = 'resnet_tiny'
  config.progress = False
  return config
