"""A seconds-long run for tests, on generated data: tiny models, few epochs.

  python -m lstsaug_jax.main --config=configs/tiny.py --config.baseline=True
"""

from lstsaug_jax import defaults


def get_config():
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
  return config
