"""The ResNet protocol of Fawaz et al. (2019), "Deep learning for time
series classification: a review", for the classifiers of a sweep (GPU).

Wang et al.'s ResNet, 1500 epochs, mini-batches of min(n_train / 10, 64),
Adam at 1e-3 halved when the epoch's training loss has not improved for 50
epochs (down to 1e-4), and the model of the epoch with the lowest training
loss. The batch rule is applied to the set each classifier trains on (the
originals, or originals + synthetic), so both see about ten steps an epoch.
The VAE keeps the LSTSAUG defaults (configs/default.py).
"""

from lstsaug_jax import defaults


def get_config():
  config = defaults.get_config()
  config.num_seeds = 3
  c = config.classifier
  c.arch = 'resnet_wang'
  c.num_epochs = 1500
  c.batch_size = 64
  c.max_batch_fraction = 0.1
  c.learning_rate = 1e-3
  c.plateau_factor = 0.5
  c.plateau_patience = 50
  c.min_learning_rate = 1e-4
  c.model_selection = 'min_train_loss'
  config.sweep.augmentations = ('latent(noise=0.1)', 'latent(noise=0.5)')
  config.sweep.results_csv = 'results/experiments/fawaz2019.csv'
  return config
