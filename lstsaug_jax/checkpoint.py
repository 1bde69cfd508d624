"""Orbax checkpoints of trained VAEs, with what is needed to rebuild them.

A checkpoint is a directory holding `params/` (Orbax) and `metadata.json`
(dataset, series length, classes, architecture). It is written beside its
final place and swapped in only when complete, so a failed save never
replaces a good checkpoint with a half-written one.
"""

import json
import os
import shutil
import uuid

import jax
import numpy as np
import orbax.checkpoint as ocp

METADATA = 'metadata.json'
PARAMS = 'params'
FORMAT_VERSION = 1
# Fields that must agree between a checkpoint and the run that restores it.
ARCHITECTURE_FIELDS = ('dataset', 'series_length', 'num_classes', 'latent_dim',
                       'hidden_dims', 'output_activation', 'num_seeds',
                       'validation_fraction')


class CheckpointError(ValueError):
  """A missing checkpoint, or one that does not fit the current run."""


def checkpoint_name(config):
  """The original script's naming, {dataset}_vae-{bs}bs-{ld}ld-{epochs}e,
  with -{K}seeds for K > 1 seeds."""
  dataset = config.dataset.replace(':', '_').replace('/', '_')
  seeds = f'-{config.num_seeds}seeds' if config.num_seeds > 1 else ''
  return (f'{dataset}_vae-{config.batch_size}bs-{config.latent_dim}ld-'
          f'{config.num_epochs}e{seeds}')


def checkpoint_path(config):
  if config.checkpoint_path:
    return os.path.abspath(config.checkpoint_path)
  return os.path.abspath(os.path.join(config.model_dir,
                                      checkpoint_name(config)))


def vae_metadata(config, series_length, num_classes, class_names, seeds):
  """What a checkpoint of the VAEs of `seeds` records about them."""
  return dict(
      format_version=FORMAT_VERSION, dataset=config.dataset,
      series_length=int(series_length), num_classes=int(num_classes),
      class_names=[str(c) for c in class_names],
      latent_dim=int(config.latent_dim),
      hidden_dims=[int(h) for h in config.vae.hidden_dims],
      output_activation=config.vae.output_activation,
      num_epochs=int(config.num_epochs), batch_size=int(config.batch_size),
      learning_rate=float(config.learning_rate),
      num_seeds=len(seeds), seeds=[int(s) for s in seeds],
      znormalise=bool(config.znormalise),
      # A VAE trained on a validation split saw fewer series.
      validation_fraction=float(config.validation_fraction))


def save_vae(path, params, metadata):
  """Writes the checkpoint to `path`, replacing any older one only once the
  new one is complete."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  staging = os.path.join(parent, f'.{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}')
  try:
    os.makedirs(staging)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(os.path.join(staging, PARAMS), jax.device_get(params))
    checkpointer.wait_until_finished()
    checkpointer.close()
    with open(os.path.join(staging, METADATA), 'w') as f:
      json.dump(metadata, f, indent=2)
    if os.path.exists(path):
      retired = staging + '.old'
      os.rename(path, retired)
      os.rename(staging, path)
      shutil.rmtree(retired)
    else:
      os.rename(staging, path)
  finally:
    if os.path.exists(staging):
      shutil.rmtree(staging, ignore_errors=True)
  return path


def _describe(path):
  try:
    with open(os.path.join(path, METADATA)) as f:
      meta = json.load(f)
    return (f'{path} (latent_dim={meta.get("latent_dim")}, '
            f'hidden_dims={meta.get("hidden_dims")}, '
            f'series_length={meta.get("series_length")})')
  except (OSError, ValueError):
    return path


def read_metadata(path):
  meta_path = os.path.join(path, METADATA)
  if not os.path.isfile(meta_path) or not os.path.isdir(
      os.path.join(path, PARAMS)):
    parent = os.path.dirname(path)
    dataset = os.path.basename(path).split('_vae-')[0]
    others = sorted(
        os.path.join(parent, d) for d in (os.listdir(parent)
                                          if os.path.isdir(parent) else [])
        if d.startswith(dataset + '_vae-') and not d.startswith('.'))
    hint = ('Checkpoints found for this dataset: '
            + '; '.join(_describe(o) for o in others) + '. Match their '
            'fields in the config or pass --config.checkpoint_path.'
            if others else 'No checkpoint for this dataset is there.')
    raise CheckpointError(
        f'No trained VAE checkpoint at {path}. It is named from dataset, '
        'batch_size, latent_dim and num_epochs. ' + hint + ' Or train one '
        'first: run without --config.use_trained=True.')
  try:
    with open(meta_path) as f:
      return json.load(f)
  except ValueError as e:
    raise CheckpointError(f'{meta_path} is not valid JSON ({e}); the '
                          'checkpoint is damaged: train the VAE again.') from None


def restore_vae(path, expected, abstract_params):
  """Restores VAE parameters saved by `save_vae`.

  Args:
    path: the checkpoint directory.
    expected: metadata of the current run; the fields in ARCHITECTURE_FIELDS
      must match the checkpoint's.
    abstract_params: a pytree of arrays (or ShapeDtypeStructs) the restored
      parameters must match in structure and shape.
  """
  path = os.path.abspath(path)
  meta = read_metadata(path)
  mismatches = [f'{k}: checkpoint has {meta.get(k)!r}, this run {expected[k]!r}'
                for k in ARCHITECTURE_FIELDS if meta.get(k) != expected[k]]
  if mismatches:
    raise CheckpointError(
        f'The VAE checkpoint at {path} does not fit this run: '
        + '; '.join(mismatches) + '. Change the config to match it, point '
        '--config.checkpoint_path at a matching checkpoint, or train a new '
        'VAE without --config.use_trained=True.')
  checkpointer = ocp.StandardCheckpointer()
  try:
    restored = checkpointer.restore(os.path.join(path, PARAMS))
  finally:
    checkpointer.close()
  want = jax.tree_util.tree_map(np.shape, abstract_params)
  got = jax.tree_util.tree_map(np.shape, restored)
  if want != got:
    raise CheckpointError(
        f'The parameters stored at {path} do not have the shapes this VAE '
        f'needs (stored: {got}; needed: {want}). The checkpoint is damaged '
        'or was written by another version: train the VAE again.')
  params = jax.tree_util.tree_map(lambda a, ref: np.asarray(a, ref.dtype),
                                  restored, abstract_params)
  return params, meta
