"""JapaneseVowels (UEA multivariate: 270 train / 370 test series, 12 LPC
channels, lengths 7-29 resampled to the longest training length, 26; 9
speakers), 3 seeds.

Channels are normalised with the training set's statistics
(normalisation='channel'): z-normalising each series on its own erases the
coefficients' levels, which identify the speaker. The classifiers train 60
epochs at batch 32 with Adam 1e-3 (about 3 minutes on 2 CPU cores).

  python -m lstsaug_jax.main --config=configs/japanesevowels.py --config.data_dir=DATA_DIR
"""

from configs import basicmotions


def get_config():
  config = basicmotions.get_config()
  config.dataset = 'JapaneseVowels'
  config.classifier.batch_size = 32  # 270 series: 9 steps an epoch
  config.classifier.num_epochs = 60
  return config
