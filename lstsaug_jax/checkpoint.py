"""Orbax checkpoints of trained VAEs, with what is needed to rebuild and to
trust them.

A checkpoint is a directory holding `params/` (Orbax) and `metadata.json`:
the dataset, every config field that changes the trained VAE (VAE_FIELDS),
the seeds, a fingerprint of the training data, a SHA-256 of every file
under params/ (the manifest) and a SHA-256 of the metadata itself. Restoring
checks all of them, so a VAE trained differently, or a metadata.json edited
after the save, is never used in silence, and a damaged file is named. The
model is rebuilt from the metadata by one function (`build_vae`), for the
command line and the Python API alike.

Saving never loses anything:
- a folder is ours only when proved (`ownership`): a metadata.json that we
  wrote (`written_by`), a params/ holding exactly the files its manifest
  lists, and nothing else. A save replaces only such a folder or an empty
  one; anything else at the path, or a file a user added inside one of our
  checkpoints, is an error before training starts (`check_save_target`),
  and nothing is moved;
- the new checkpoint is written beside the path and swapped in with two
  renames, and of the old one only the files its manifest names are
  removed. A process killed between the renames leaves both copies under
  hidden names; the next access to the path (`recover`) puts the new one in
  place and removes what is provably ours of saves whose process is gone;
- `locked(path)` holds a lock for a whole save or restore, so two runs
  sharing a checkpoint path never report each other's VAE.
"""

import contextlib
import hashlib
import json
import os
import shutil

from absl import logging
import jax
import numpy as np

from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import files
from lstsaug_jax import models
from lstsaug_jax import ownership
from lstsaug_jax.errors import CheckpointError

METADATA = ownership.METADATA
PARAMS = ownership.PARAMS
# 3: the metadata carries its own digest (metadata_sha256).
FORMAT_VERSION = 3
WRITER = ownership.WRITER

# Config fields that change a trained VAE: recorded in its metadata, hashed
# into its default name and checked on restore.
VAE_FIELDS = ('dataset', 'normalisation', 'missing_values', 'variable_length',
              'validation_fraction', 'num_epochs', 'batch_size',
              'learning_rate', 'latent_dim', 'vae.hidden_dims',
              'vae.output_activation', 'vae.plateau_factor',
              'vae.plateau_patience', 'vae.beta', 'vae.contrastive_weight')
# Fields that matter only in some runs.
VALIDATION_FIELDS = ('validation_seed',)  # with validation_fraction > 0
SYNTHETIC_FIELDS = ('synthetic_train_size', 'synthetic_seed')  # synthetic:
# Added after checkpoints had names: in them only when not the default
# (mlp), so the names of earlier checkpoints stay valid.
ARCH_FIELDS = ('vae.arch',)
# With imbalance_ratio or shots: the smaller training set the VAE saw.
SUBSAMPLE_FIELDS = ('imbalance_ratio', 'shots', 'subsample_seed')
# What the data determine; checked on restore as well.
DATA_FIELDS = ('series_length', 'num_channels', 'num_classes', 'class_names',
               'data_fingerprint')


def _json_value(v):
  return list(v) if isinstance(v, tuple) else v


def vae_fields(config):
  """{field: value} of every config field that changes the trained VAE."""
  flat = configuration.flatten(config)
  fields = list(VAE_FIELDS)
  if config.validation_fraction:
    fields += VALIDATION_FIELDS
  if config.dataset.startswith('synthetic:'):
    fields += SYNTHETIC_FIELDS
  if config.vae.arch != 'mlp':
    fields += ARCH_FIELDS
  if config.imbalance_ratio or config.shots:
    fields += SUBSAMPLE_FIELDS
  return {f: _json_value(flat[f]) for f in fields}


def training_digest(fields, seeds):
  text = json.dumps(dict(fields, seeds=list(seeds)), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:8]


def checkpoint_name(config):
  """{dataset}_vae-{bs}bs-{ld}ld-{epochs}e-seed{seed}[-{K}seeds]-{digest}:
  the original script's naming, then the seed(s), then a digest of every
  field in VAE_FIELDS, so VAEs trained differently never share a name."""
  dataset = data.file_name(config.dataset)
  seeds = configuration.seeds(config)
  many = f'-{config.num_seeds}seeds' if config.num_seeds > 1 else ''
  digest = training_digest(vae_fields(config), seeds)
  return (f'{dataset}_vae-{config.batch_size}bs-{config.latent_dim}ld-'
          f'{config.num_epochs}e-seed{config.seed}{many}-{digest}')


def checkpoint_path(config):
  if config.checkpoint_path:
    return os.path.abspath(config.checkpoint_path)
  return os.path.abspath(os.path.join(config.model_dir,
                                      checkpoint_name(config)))


def vae_metadata(config, dataset, seeds):
  """What a checkpoint of the VAEs of `seeds`, trained on `dataset`,
  records about them."""
  return dict(
      format_version=FORMAT_VERSION, written_by=WRITER,
      **vae_fields(config),
      seeds=[int(s) for s in seeds], num_seeds=len(seeds),
      series_length=int(dataset.series_length),
      num_channels=int(dataset.num_channels),
      num_classes=int(dataset.num_classes),
      class_names=[str(c) for c in dataset.class_names],
      data_fingerprint=dataset.fingerprint)


def checked_fields(expected):
  return [k for k in expected if k in VAE_FIELDS + VALIDATION_FIELDS
          + SYNTHETIC_FIELDS + DATA_FIELDS + ('seeds',)]


def mismatches(meta, expected):
  """'field: checkpoint has A, this run B' for each field that differs."""
  found = []
  for k in ARCH_FIELDS:  # recorded only when not the default
    have, want = meta.get(k, 'mlp'), expected.get(k, 'mlp')
    if have != want:
      found.append(f'{k}: checkpoint has {have!r}, this run {want!r}')
  for k in checked_fields(expected):
    if k not in meta:
      found.append(f'{k}: the checkpoint does not record it (written by an '
                   'older version)')
    elif meta[k] != expected[k]:
      if k == 'data_fingerprint':
        found.append('the training data: same dataset and policies, but the '
                     'series differ (another data_dir, or the files changed)')
      else:
        found.append(f'{k}: checkpoint has {meta[k]!r}, this run '
                     f'{expected[k]!r}')
  return found


# --- The model a checkpoint holds --------------------------------------------


def build_vae(meta):
  """The VAE module that metadata (vae_metadata, or a checkpoint's)
  describes: the one builder of the command line, the sweeps and the
  Python API."""
  try:
    return models.VAE(
        series_length=meta['series_length'], num_classes=meta['num_classes'],
        num_channels=meta.get('num_channels', 1),
        latent_dim=meta['latent_dim'],
        hidden_dims=tuple(meta['vae.hidden_dims']),
        output_activation=meta['vae.output_activation'],
        arch=meta.get('vae.arch', 'mlp'))
  except KeyError as e:
    raise CheckpointError(
        f'The checkpoint metadata does not record {e}: it was written by an '
        'older version. Train the VAE again.') from None


def vae_for(config, dataset):
  """The VAE module `config` trains on `dataset` (build_vae of the
  metadata its checkpoint would record)."""
  return build_vae(vae_metadata(config, dataset, [config.seed]))


def abstract_params(model, num_seeds):
  """The shapes of num_seeds VAEs' parameters (seed axis first), computed
  without initialising: what a restored checkpoint must match."""
  sample = np.zeros((1, model.num_channels, model.series_length), np.float32)
  return jax.eval_shape(
      lambda keys: jax.vmap(lambda k: model.init(k, sample, k))(keys)[
          'params'], jax.ShapeDtypeStruct((num_seeds, 2), np.uint32))


# --- Saving ----------------------------------------------------------------------


def metadata_digest(meta):
  """SHA-256 of the metadata (all but this digest), as JSON reads it back."""
  body = {k: v for k, v in json.loads(json.dumps(meta)).items()
          if k != 'metadata_sha256'}
  return hashlib.sha256(json.dumps(body, sort_keys=True).encode()
                        ).hexdigest()


def _save_error(path, error):
  return CheckpointError(
      f'Saving the VAE checkpoint to {path} failed ({error}). Nothing at '
      f'{path} was changed (an earlier checkpoint there is kept), and the '
      'partial copy was removed. Free some space (or choose another '
      '--config.checkpoint_path / --config.model_dir) and run again.')


def _write_params(path, staging, params):
  """The parameters under staging/params by Orbax; its errors (a full disk)
  as one paragraph."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  # One process writes (multi-host: process 0, with the gathered
  # parameters), so Orbax must not wait for the others.
  me = jax.process_index()
  checkpointer = ocp.StandardCheckpointer(
      multiprocessing_options=ocp.options.MultiprocessingOptions(
          primary_host=me, active_processes={me}))
  try:
    checkpointer.save(os.path.join(staging, PARAMS), params)
    checkpointer.wait_until_finished()
  except Exception as e:  # pylint: disable=broad-except
    # Orbax wraps the OS's error in its own types.
    raise _save_error(path, f'{type(e).__name__}: '
                      f'{str(e).splitlines()[0][:200] if str(e) else ""}'
                      ) from None
  finally:
    checkpointer.close()


def _swap_in(path, staging):
  """Renames staging to path, the old checkpoint (if any) aside first;
  returns the old one's temporary name (None if there was none)."""
  if not os.path.lexists(path):
    os.rename(staging, path)
    return None
  ownership.check_save_target(path)  # again: it may have changed since
  retired = ownership.temporary_name(path, 'old')
  os.rename(path, retired)
  try:
    os.rename(staging, path)
  except BaseException:
    os.rename(retired, path)
    raise
  return retired


def save_vae(path, params, metadata):
  """Writes the checkpoint to `path`, replacing an earlier checkpoint of
  ours only once the new one is complete. Non-finite parameters are
  refused. Hold `locked(path)` around it (and the training before it)."""
  path = os.path.abspath(path)
  params = jax.device_get(params)
  if not all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(
      params)):
    raise CheckpointError(
        f'Refusing to save the VAE to {path}: its parameters hold NaN or '
        'infinite values, so it is not a model. Lower the learning rate '
        '(--config.learning_rate) and train again.')
  ownership.check_save_target(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  staging = ownership.temporary_name(path, 'new')
  retired = None
  try:
    os.makedirs(staging)
    marker = os.path.join(staging, ownership.STAGING_MARKER)
    files.atomic_write(marker, '')
    _write_params(path, staging, params)
    os.remove(marker)
    meta = dict(metadata, format_version=FORMAT_VERSION, written_by=WRITER,
                files=ownership.manifest(staging))
    meta['metadata_sha256'] = metadata_digest(meta)
    # Written last: a staging directory with its metadata is complete.
    files.write_json(os.path.join(staging, METADATA), meta)
    retired = _swap_in(path, staging)
    ownership.fsync_dir(os.path.dirname(path))
  finally:
    if os.path.exists(staging):
      shutil.rmtree(staging, ignore_errors=True)
    if retired and os.path.exists(retired):
      if ownership.ownership(retired).ours:
        ownership.remove_ours(retired)
      else:  # the empty folder it replaced
        with contextlib.suppress(OSError):
          os.rmdir(retired)
  return path


# --- Restoring ---------------------------------------------------------------


def describe(path, expected=None):
  """One line about a checkpoint: its path and what differs from
  `expected` (or its main fields)."""
  meta = ownership.read_json(os.path.join(path, METADATA))
  if meta is None:
    return f'{path} (unreadable metadata)'
  if expected is not None:
    diffs = mismatches(meta, expected)
    return f'{path} (differs in ' + ('; '.join(diffs) or 'nothing') + ')'
  return (f'{path} (latent_dim={meta.get("latent_dim")}, '
          f'hidden_dims={meta.get("vae.hidden_dims")}, '
          f'seeds={meta.get("seeds")})')


def exists(path):
  """True if a checkpoint that says we wrote it is at path (after
  recovering an interrupted save); restoring it checks the rest."""
  ownership.recover(path)
  meta = ownership.read_json(os.path.join(path, METADATA))
  return (meta is not None and meta.get('written_by') == WRITER
          and os.path.isdir(os.path.join(path, PARAMS)))


def _no_checkpoint_error(path, expected, hint):
  parent = os.path.dirname(path)
  dataset = os.path.basename(path).split('_vae-')[0]
  others = sorted(
      os.path.join(parent, d) for d in (os.listdir(parent)
                                        if os.path.isdir(parent) else [])
      if d.startswith(dataset + '_vae-') and not d.startswith('.'))
  found = ('Checkpoints found for this dataset: '
           + '; '.join(describe(o, expected) for o in others) + '. Match '
           'their fields in the config or pass the path of one. '
           if others else '')
  return CheckpointError(f'No trained VAE checkpoint at {path}. {found}'
                         + hint)


# How to get a checkpoint, for each caller's message.
COMMAND_LINE_HINT = (
    'Its name comes from the dataset, batch_size, latent_dim, num_epochs, '
    'seed and a digest of every other field that changes the VAE. Or train '
    'one first: run without --config.use_trained=True.')
API_HINT = ('Pass the path that TrainedVAE.save (or a command-line run, in '
            'its results.json under vae_checkpoint) wrote.')


def read_metadata(path, expected=None, hint=COMMAND_LINE_HINT):
  """The checkpoint's metadata; a CheckpointError if there is none (listing
  the checkpoints of the same dataset, and how each differs from
  `expected`)."""
  path = os.path.abspath(path)
  ownership.recover(path)
  meta_path = os.path.join(path, METADATA)
  if not os.path.isdir(os.path.join(path, PARAMS)) or not os.path.isfile(
      meta_path):
    raise _no_checkpoint_error(path, expected, hint)
  meta = ownership.read_json(meta_path)
  if meta is None:
    raise CheckpointError(f'{meta_path} is not readable JSON: the checkpoint '
                          'is damaged. Train the VAE again.')
  return meta


def _verify_metadata(path, meta):
  if meta.get('format_version', 0) >= 3:
    if meta.get('metadata_sha256') != metadata_digest(meta):
      raise CheckpointError(
          f'{os.path.join(path, METADATA)} was changed after the checkpoint '
          'was saved (its SHA-256 no longer matches): the fields that rebuild '
          'the model (architecture, output activation, sizes) cannot be '
          'trusted to fit the saved weights. Restore the original file, or '
          'train the VAE again.')
  else:
    logging.warning('The checkpoint at %s was written by an older version '
                    '(format %s) that did not digest its metadata, so an edit '
                    'to it cannot be detected; save it again to add one.',
                    path, meta.get('format_version'))


def _verify_files(path, meta):
  for name, entry in meta.get('files', {}).items():
    full = os.path.join(path, name)
    if not os.path.isfile(full):
      raise CheckpointError(
          f'The VAE checkpoint at {path} is damaged: {name} is missing. Train '
          'the VAE again.')
    if (os.path.getsize(full) != entry['size']
        or ownership.sha256(full) != entry['sha256']):
      raise CheckpointError(
          f'The VAE checkpoint at {path} is damaged: {name} differs from the '
          'file that was saved (size or SHA-256). Train the VAE again.')


def _shapes(tree):
  return {jax.tree_util.keystr(k): tuple(np.shape(v))
          for k, v in jax.tree_util.tree_leaves_with_path(tree)}


def _shapes_text(want, got):
  lines = []
  for name in sorted(set(want) | set(got)):
    if name not in got:
      lines.append(f'{name} is missing')
    elif name not in want:
      lines.append(f'{name} is not part of this VAE')
    elif want[name] != got[name]:
      lines.append(f'{name} has shape {got[name]}, this VAE needs '
                   f'{want[name]}')
  return '; '.join(lines[:5]) + ('; ...' if len(lines) > 5 else '')


def restore_vae(path, expected, shapes=None, hint=COMMAND_LINE_HINT):
  """Restores a checkpoint saved by `save_vae`; returns (model, params with
  the seed axis first, metadata).

  Args:
    path: the checkpoint directory.
    expected: metadata of the current run (vae_metadata), whose recorded
      training fields must match the checkpoint's; None (the Python API)
      checks only the checkpoint itself.
    shapes: the parameters' shapes (a pytree of ShapeDtypeStructs or
      arrays, seed axis first); default: those of the model the metadata
      describes, one per recorded seed.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  path = os.path.abspath(path)
  meta = read_metadata(path, expected, hint)
  _verify_metadata(path, meta)
  if expected is not None:
    diffs = mismatches(meta, expected)
    if diffs:
      raise CheckpointError(
          f'The VAE checkpoint at {path} does not fit this run: '
          + '; '.join(diffs) + '. Change the config to match it, point '
          '--config.checkpoint_path at a matching checkpoint, or train a new '
          'VAE without --config.use_trained=True.')
  model = build_vae(meta)
  if shapes is None:
    shapes = abstract_params(model, len(meta.get('seeds', [0])))
  _verify_files(path, meta)
  checkpointer = ocp.StandardCheckpointer()
  try:
    restored = checkpointer.restore(os.path.join(path, PARAMS))
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(
        f'The parameter files of the VAE checkpoint at {path} could not be '
        f'read ({type(e).__name__}): the checkpoint is damaged or incomplete. '
        'Train the VAE again.') from None
  finally:
    checkpointer.close()
  want, got = _shapes(shapes), _shapes(restored)
  if want != got:
    raise CheckpointError(
        f'The parameters stored at {path} do not fit this VAE: '
        f'{_shapes_text(want, got)}. The checkpoint was written for another '
        'architecture or by another version: train the VAE again.')
  params = jax.tree_util.tree_map(lambda a, ref: np.asarray(a, ref.dtype),
                                  restored, shapes)
  if not all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(
      params)):
    raise CheckpointError(f'The VAE checkpoint at {path} holds NaN or '
                          'infinite parameters. Train the VAE again.')
  return model, params, meta
