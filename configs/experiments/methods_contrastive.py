"""methods.py's latent_class with a VAE trained with the contrastive term
(vae.contrastive_weight=1), so classes are compact in latent space. Its own
CSV (the VAE differs, so the protocol does); the classifiers train exactly as
in methods.py, and the summary reads both CSVs:

  python -m lstsaug_jax.experiments --config=configs/experiments/methods_contrastive.py
"""

from configs.experiments import methods


def get_config():
  config = methods.get_config()
  config.vae.contrastive_weight = 1.0
  config.sweep.baseline = False
  config.sweep.augmentations = ('latent_class',)
  config.sweep.results_csv = 'results/experiments/methods_contrastive.csv'
  return config
