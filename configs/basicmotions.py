"""BasicMotions (UEA multivariate: 40 train / 40 test series, 6 channels of
length 100, 4 classes), 3 seeds, in about 3 minutes on 2 CPU cores.

Channels are normalised with the training set's statistics
(normalisation='channel'); the classifiers train 100 epochs at batch 16
with Adam 1e-3.

  python -m lstsaug_jax.main --config=configs/basicmotions.py --config.data_dir=DATA_DIR
"""

from lstsaug_jax import defaults


def get_config():
  config = defaults.get_config()
  config.dataset = 'BasicMotions'
  config.normalisation = 'channel'
  config.num_seeds = 3
  config.batch_size = 16
  config.classifier.num_epochs = 100
  config.classifier.learning_rate = 1e-3
  config.baseline = True
  config.test_augment = True
  config.augment_plot = True
  config.export_synthetic = True
  return config
