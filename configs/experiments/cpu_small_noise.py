"""cpu_small with three noise levels (0.01, 0.1, 0.5; one synthetic series
per original). It writes to cpu_small's CSV, whose baseline and noise-0.1
rows it reuses, so after cpu_small it runs only the two new settings.

Which setting to report is chosen on a validation split
(cpu_small_validation.py), never on test accuracy:

  python -m lstsaug_jax.experiments --config=configs/experiments/cpu_small_noise.py
  python -m lstsaug_jax.experiments --config=configs/experiments/cpu_small_validation.py
  python -m lstsaug_jax.experiments.summarize results/experiments/cpu_small.csv \
      --select_on=results/experiments/cpu_small_validation.csv \
      --anchors=../shared/reference/anchors_dev.csv
"""

from configs.experiments import cpu_small

NOISE_SETTINGS = ('latent(noise=0.01)', 'latent(noise=0.1)',
                  'latent(noise=0.5)')


def get_config():
  config = cpu_small.get_config()
  config.sweep.augmentations = NOISE_SETTINGS
  return config
