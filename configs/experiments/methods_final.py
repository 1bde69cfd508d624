"""methods.py's protocol with the final model reported for every method,
the baseline included (classifier.model_selection='final'), on the 14
cpu_small datasets, 3 seeds.

Why: the lowest-training-loss rule picks an epoch by a loss that, for
on-the-fly augmentation, mixes fresh random synthetic series every epoch.
On Chinatown it picked epoch 14 of 100 for one jitter(mode=online) seed
(0.84 against 0.98 for the other two). The final model, after the
learning-rate plateau schedule has run its course, needs no such choice.
The rule applies to every arm alike, so it is a second protocol, not a
per-method choice; the methods below were fixed before the run:

- jitter(mode=online) and latent with the conv VAE: under methods.py they
  were the two with more wins than losses;
- auto with jitter(mode=online) as its candidate: the losses that sink
  their means are few and per dataset, which is what auto is for. (Its
  candidate was picked from earlier test results on these datasets, so
  the other 12 shared datasets are the clean check of it.)

The VAE is methods_conv's (vae.arch='conv', hidden_dims (32, 64, 64)):
only the classifier's model selection differs, so its checkpoints can be
restored by linking their folders (the path names this protocol's hash).

  # K = 0, 1 (one process each). First pass without auto, so those three
  # tables are complete first; the second pass runs only what is missing.
  python -m lstsaug_jax.experiments --config=configs/experiments/methods_final.py \
      --config.sweep.shard=K --config.sweep.num_shards=2 \
      --config.sweep.augmentations="('jitter(mode=online)','latent')"
  python -m lstsaug_jax.experiments --config=configs/experiments/methods_final.py \
      --config.sweep.shard=K --config.sweep.num_shards=2
"""

from configs.experiments import methods

AUTO_JITTER = 'auto(candidates=("jitter(mode=online)",))'


def get_config():
  config = methods.get_config()
  config.classifier.model_selection = 'final'
  config.vae.arch = 'conv'
  config.vae.hidden_dims = (32, 64, 64)
  config.sweep.augmentations = ('jitter(mode=online)', 'latent', AUTO_JITTER)
  config.sweep.results_csv = 'results/experiments/methods_final.csv'
  return config
