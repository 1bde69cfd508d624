"""Every augmentation method against the strong baseline, on cpu_small's 14
datasets, 3 seeds (issue 9's comparison).

The protocol repairs what made earlier gains an artefact of the baseline's
training: a batch floor of 8 series (batch = min(n, max(8, min(64, n/10))),
so a 20-series set is not trained with batches of 2), and a budget in
gradient steps: every method takes the steps the baseline takes on the
originals (40 epochs, at least 300 steps, so the smallest sets are not
under-trained), whatever the size of its training set. The reported model is
the one of the lowest training loss, never chosen on the test set.

The VAE's KL weight is 0.01 (vae.beta): over these 14 datasets it raises the
median reconstruction R^2 of the training series from 0.75 (beta = 1, the
original's ELBO) to 0.995, against 0.98 at beta = 0.1, at the same cost
(benchmarks/results/vae_quality/cpu_small.json, r2_train). The choice reads
the training series only.

  python -m lstsaug_jax.experiments --config=configs/experiments/methods.py
  python -m lstsaug_jax.experiments --config=configs/experiments/methods_contrastive.py
  python -m lstsaug_jax.experiments.summarize results/experiments/methods.csv \
      results/experiments/methods_contrastive.csv \
      --anchors=../shared/reference/anchors_dev.csv

Resumable: a killed sweep reruns only the rows its CSV lacks; a slice is
--config.sweep.datasets=A,B,... (same CSV, same protocol).
"""

from configs.experiments import cpu_small

# Fixed sets (one synthetic series per original), on-the-fly latent
# sampling, and auto last (it costs about seven trainings).
METHODS = (
    'latent',
    'latent_class',
    'latent(mode=online)',
    'jitter',
    'scaling',
    'magnitude_warp',
    'time_warp',
    'window_slice',
    'window_warp',
    'mixup',
    'auto',
)


def get_config():
  config = cpu_small.get_config()
  c = config.classifier
  c.min_batch_size = 8
  c.budget = 'steps'
  c.min_steps = 300
  config.vae.beta = 0.01
  config.sweep.augmentations = METHODS
  config.sweep.results_csv = 'results/experiments/methods.csv'
  return config
