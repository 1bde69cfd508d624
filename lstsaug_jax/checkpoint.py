"""Orbax checkpoints of trained VAEs, with what is needed to rebuild and to
trust them.

A checkpoint is a directory holding `params/` (Orbax) and `metadata.json`:
the dataset, every config field that changes the trained VAE (VAE_FIELDS),
the seeds, a fingerprint of the training data, and a SHA-256 of every file
under params/. Restoring checks all of them, so a VAE trained differently is
never used in silence, and a damaged file is named.

Saving never loses anything:
- a save may only replace a checkpoint of ours (recognised by its
  metadata) or an empty directory; anything else at the path is an error
  before training starts (`check_save_target`), and nothing is moved;
- the new checkpoint is written beside the path and swapped in with two
  renames. A process killed between them leaves both copies under hidden
  names; the next access to the path (`recover`) puts the new one in place
  and removes the temporary directories of saves whose process is gone.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import uuid

from absl import logging
import jax
import numpy as np

from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax.errors import CheckpointError

METADATA = 'metadata.json'
PARAMS = 'params'
FORMAT_VERSION = 2
WRITER = 'lstsaug_jax'

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
  return {f: _json_value(flat[f]) for f in fields}


def training_digest(fields, seeds):
  text = json.dumps(dict(fields, seeds=list(seeds)), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:8]


def checkpoint_name(config):
  """{dataset}_vae-{bs}bs-{ld}ld-{epochs}e-seed{seed}[-{K}seeds]-{digest}:
  the original script's naming, then the seed(s), then a digest of every
  field in VAE_FIELDS, so VAEs trained differently never share a name."""
  dataset = data.file_name(config.dataset)
  seeds = [config.seed + k for k in range(config.num_seeds)]
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


# --- Recognising, recovering, replacing --------------------------------------


@dataclasses.dataclass(frozen=True)
class _Temporary:
  path: str
  kind: str  # 'new' (being written) or 'old' (being retired)
  host: str
  pid: int


def _temporary_name(path, kind):
  parent, base = os.path.split(path)
  host = re.sub(r'[^A-Za-z0-9_.]', '_', socket.gethostname())
  return os.path.join(parent, f'.{base}.{kind}-{host}-{os.getpid()}-'
                      f'{uuid.uuid4().hex[:8]}')


def _temporaries(path):
  parent, base = os.path.split(path)
  if not os.path.isdir(parent):
    return []
  pattern = re.compile(rf'\.{re.escape(base)}\.(new|old)-(.+)-(\d+)-'
                       r'[0-9a-f]{8}')
  found = []
  for entry in sorted(os.listdir(parent)):
    m = pattern.fullmatch(entry)
    if m:
      found.append(_Temporary(os.path.join(parent, entry), m.group(1),
                              m.group(2), int(m.group(3))))
  return found


def _owner_gone(t):
  """True if the process that made t is known to be gone (same host)."""
  host = re.sub(r'[^A-Za-z0-9_.]', '_', socket.gethostname())
  if t.host != host or t.pid == os.getpid():
    return False
  try:
    os.kill(t.pid, 0)
  except ProcessLookupError:
    return True
  except OSError:
    return False
  return False


def _read_json(path):
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  return meta if isinstance(meta, dict) else None


def is_ours(path):
  """A directory with our metadata.json and a params/ directory."""
  meta = _read_json(os.path.join(path, METADATA))
  return (meta is not None and 'format_version' in meta
          and os.path.isdir(os.path.join(path, PARAMS)))


def _complete(path):
  """Ours, and every file its manifest names is there at its size."""
  if not is_ours(path):
    return False
  meta = _read_json(os.path.join(path, METADATA))
  return all(os.path.isfile(os.path.join(path, f))
             and os.path.getsize(os.path.join(path, f)) == entry['size']
             for f, entry in meta.get('files', {}).items())


def recover(path):
  """Finishes a save that was killed between its two renames, and removes
  the temporary directories of saves whose process is gone."""
  path = os.path.abspath(path)
  gone = [t for t in _temporaries(path) if _owner_gone(t)]
  if not os.path.lexists(path):
    # The new copy was complete (its metadata is written last); the old one
    # is the fallback.
    for kind in ('new', 'old'):
      candidates = [t for t in gone if t.kind == kind and _complete(t.path)]
      if candidates:
        chosen = max(candidates, key=lambda t: os.path.getmtime(t.path))
        os.rename(chosen.path, path)
        gone.remove(chosen)
        logging.warning('Recovered the checkpoint at %s from a save that was '
                        'interrupted.', path)
        break
  for t in gone:
    shutil.rmtree(t.path, ignore_errors=True)


def check_save_target(path):
  """Raises CheckpointError, before any training, if saving to `path` would
  replace something that is not a checkpoint of ours."""
  path = os.path.abspath(path)
  recover(path)
  if not os.path.lexists(path):
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
      parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
      raise CheckpointError(
          f'Cannot save the VAE checkpoint at {path}: {parent} is a file, '
          'not a folder. Choose another --config.checkpoint_path or '
          '--config.model_dir.')
    if not os.access(parent, os.W_OK):
      raise CheckpointError(
          f'Cannot save the VAE checkpoint at {path}: {parent} is not '
          'writable. Choose another --config.checkpoint_path or '
          '--config.model_dir.')
    return
  if os.path.isdir(path) and not os.path.islink(path) and (
      is_ours(path) or not os.listdir(path)):
    if not os.access(path, os.W_OK) or not os.access(os.path.dirname(path),
                                                     os.W_OK):
      raise CheckpointError(f'Cannot replace the checkpoint at {path}: it '
                            'or its folder is not writable.')
    return
  what = ('a file' if os.path.isfile(path) else
          'a directory that is not a checkpoint of ours (no readable '
          f'{METADATA} beside a {PARAMS}/ folder)')
  raise CheckpointError(
      f'{path} exists and is {what}. A VAE checkpoint is saved only where '
      'nothing is, or over an earlier checkpoint of ours, so nothing was '
      'trained and nothing there was moved. Choose another '
      '--config.checkpoint_path (or --config.model_dir), or move that '
      f'{"file" if os.path.isfile(path) else "directory"} away.')


def _sha256(path):
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()


def _manifest(root):
  files = {}
  for folder, _, names in os.walk(os.path.join(root, PARAMS)):
    for name in names:
      full = os.path.join(folder, name)
      files[os.path.relpath(full, root)] = dict(size=os.path.getsize(full),
                                                sha256=_sha256(full))
  return dict(sorted(files.items()))


def _fsync_dir(path):
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def save_vae(path, params, metadata):
  """Writes the checkpoint to `path`, replacing an older checkpoint of ours
  only once the new one is complete. Non-finite parameters are refused."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  path = os.path.abspath(path)
  params = jax.device_get(params)
  leaves = jax.tree_util.tree_leaves(params)
  if not all(np.all(np.isfinite(a)) for a in leaves):
    raise CheckpointError(
        f'Refusing to save the VAE to {path}: its parameters hold NaN or '
        'infinite values, so it is not a model. Lower the learning rate '
        '(--config.learning_rate) and train again.')
  check_save_target(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  staging = _temporary_name(path, 'new')
  retired = None
  try:
    os.makedirs(staging)
    # One process writes (multi-host: process 0, with the gathered
    # parameters), so Orbax must not wait for the others.
    me = jax.process_index()
    checkpointer = ocp.StandardCheckpointer(
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=me, active_processes={me}))
    checkpointer.save(os.path.join(staging, PARAMS), params)
    checkpointer.wait_until_finished()
    checkpointer.close()
    # Written last: a staging directory with its metadata is complete.
    with open(os.path.join(staging, METADATA), 'w') as f:
      json.dump(dict(metadata, files=_manifest(staging)), f, indent=2)
      f.flush()
      os.fsync(f.fileno())
    if os.path.lexists(path):
      retired = _temporary_name(path, 'old')
      os.rename(path, retired)
      try:
        os.rename(staging, path)
      except BaseException:
        os.rename(retired, path)
        retired = None
        raise
    else:
      os.rename(staging, path)
    _fsync_dir(os.path.dirname(path))
  finally:
    for leftover in (staging, retired):
      if leftover and os.path.exists(leftover):
        shutil.rmtree(leftover, ignore_errors=True)
  return path


# --- Restoring ---------------------------------------------------------------


def describe(path, expected=None):
  """One line about a checkpoint: its path and what differs from
  `expected` (or its main fields)."""
  meta = _read_json(os.path.join(path, METADATA))
  if meta is None:
    return f'{path} (unreadable metadata)'
  if expected is not None:
    diffs = mismatches(meta, expected)
    return f'{path} (differs in ' + ('; '.join(diffs) or 'nothing') + ')'
  return (f'{path} (latent_dim={meta.get("latent_dim")}, '
          f'hidden_dims={meta.get("vae.hidden_dims")}, '
          f'seeds={meta.get("seeds")})')


def exists(path):
  """True if a checkpoint of ours is at path (after recovering an
  interrupted save)."""
  recover(path)
  return is_ours(path)


def read_metadata(path, expected=None):
  """The checkpoint's metadata; a CheckpointError if there is none (listing
  the checkpoints of the same dataset, and how each differs from
  `expected`)."""
  path = os.path.abspath(path)
  recover(path)
  meta_path = os.path.join(path, METADATA)
  if not os.path.isdir(os.path.join(path, PARAMS)) or not os.path.isfile(
      meta_path):
    parent = os.path.dirname(path)
    dataset = os.path.basename(path).split('_vae-')[0]
    others = sorted(
        os.path.join(parent, d) for d in (os.listdir(parent)
                                          if os.path.isdir(parent) else [])
        if d.startswith(dataset + '_vae-') and not d.startswith('.'))
    hint = ('Checkpoints found for this dataset: '
            + '; '.join(describe(o, expected) for o in others) + '. Match '
            'their fields in the config or pass --config.checkpoint_path.'
            if others else 'No checkpoint for this dataset is there.')
    raise CheckpointError(
        f'No trained VAE checkpoint at {path}. Its name comes from the '
        'dataset, batch_size, latent_dim, num_epochs, seed and a digest of '
        'every other field that changes the VAE. ' + hint + ' Or train one '
        'first: run without --config.use_trained=True.')
  meta = _read_json(meta_path)
  if meta is None:
    raise CheckpointError(f'{meta_path} is not readable JSON: the checkpoint '
                          'is damaged. Train the VAE again (without '
                          '--config.use_trained=True).')
  return meta


def _verify_files(path, meta):
  for name, entry in meta.get('files', {}).items():
    full = os.path.join(path, name)
    if not os.path.isfile(full):
      raise CheckpointError(
          f'The VAE checkpoint at {path} is damaged: {name} is missing. Train '
          'the VAE again (without --config.use_trained=True).')
    if (os.path.getsize(full) != entry['size']
        or _sha256(full) != entry['sha256']):
      raise CheckpointError(
          f'The VAE checkpoint at {path} is damaged: {name} differs from the '
          'file that was saved (size or SHA-256). Train the VAE again '
          '(without --config.use_trained=True).')


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


def restore_vae(path, expected, abstract_params):
  """Restores VAE parameters saved by `save_vae`.

  Args:
    path: the checkpoint directory.
    expected: metadata of the current run (vae_metadata); every recorded
      training field must match the checkpoint's.
    abstract_params: a pytree of arrays (or ShapeDtypeStructs) the restored
      parameters must match in structure and shape.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  path = os.path.abspath(path)
  meta = read_metadata(path, expected)
  diffs = mismatches(meta, expected)
  if diffs:
    raise CheckpointError(
        f'The VAE checkpoint at {path} does not fit this run: '
        + '; '.join(diffs) + '. Change the config to match it, point '
        '--config.checkpoint_path at a matching checkpoint, or train a new '
        'VAE without --config.use_trained=True.')
  _verify_files(path, meta)
  checkpointer = ocp.StandardCheckpointer()
  try:
    restored = checkpointer.restore(os.path.join(path, PARAMS))
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(
        f'The parameter files of the VAE checkpoint at {path} could not be '
        f'read ({type(e).__name__}): the checkpoint is damaged or incomplete. '
        'Train the VAE again (without --config.use_trained=True).') from None
  finally:
    checkpointer.close()
  want, got = _shapes(abstract_params), _shapes(restored)
  if want != got:
    raise CheckpointError(
        f'The parameters stored at {path} do not fit this VAE: '
        f'{_shapes_text(want, got)}. The checkpoint was written for another '
        'architecture or by another version: train the VAE again.')
  params = jax.tree_util.tree_map(lambda a, ref: np.asarray(a, ref.dtype),
                                  restored, abstract_params)
  if not all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(
      params)):
    raise CheckpointError(f'The VAE checkpoint at {path} holds NaN or '
                          'infinite parameters. Train the VAE again.')
  return params, meta
