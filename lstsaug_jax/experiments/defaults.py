"""A sweep's fields (`config.sweep`), added to a run's defaults
(lstsaug_jax/defaults.py): a run config carries none of them."""

import ml_collections

from lstsaug_jax import defaults


def sweep_fields():
  sweep = ml_collections.ConfigDict()
  sweep.datasets = ('GunPoint',)
  sweep.baseline = True  # the classifier on the originals only
  # The augmented methods, as specs (see augment.method; 'auto(...)' too).
  sweep.augmentations = ('latent',)
  # One row per finished run is appended here; a rerun skips rows present.
  sweep.results_csv = 'results/experiments/sweep.csv'
  # Write the summary (tables, statistics, plots) beside the CSV at the end.
  sweep.summarize = True
  # Published accuracies to print beside ours ('': none), e.g.
  # DATA_DIR/../reference/anchors_dev.csv.
  sweep.anchors = ''
  # Sweeps across machines that share a file system (a scheduler's job
  # array runs one shard each): shard k of num_shards runs every
  # num_shards-th dataset from the k-th, into its own CSV (results_csv
  # with -shard{k}of{num_shards} before .csv); `summarize` reads them
  # together.
  sweep.shard = 0
  sweep.num_shards = 1
  return sweep


def with_sweep(config):
  """config with the sweep's fields added (their defaults)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.sweep = sweep_fields()
  return config


def get_config():
  """The run defaults and the sweep's fields: where every sweep config
  starts."""
  return with_sweep(defaults.get_config())
