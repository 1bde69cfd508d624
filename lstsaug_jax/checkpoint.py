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
from lstsaug_jax import files
from lstsaug_jax import models
from lstsaug_jax.errors import CheckpointError

METADATA = 'metadata.json'
PARAMS = 'params'
# 3: the metadata carries its own digest (metadata_sha256).
FORMAT_VERSION = 3
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


# --- Proving a folder is ours --------------------------------------------------

# The first file of a save's staging folder: proves a half-written folder
# (no metadata yet) ours; removed before the metadata is written.
STAGING_MARKER = '.lstsaug_jax-staging'


@dataclasses.dataclass(frozen=True)
class Ownership:
  """What a folder is to us: `ours` when proved; `extra`: entries a user
  added to a checkpoint of ours; `reason`: why it is not ours."""

  ours: bool
  extra: tuple = ()
  reason: str = ''


def _read_json(path):
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  return meta if isinstance(meta, dict) else None


def _params_files(root):
  """{path relative to root: size} of every file under root/params."""
  found = {}
  for folder, dirs, names in os.walk(os.path.join(root, PARAMS)):
    dirs.sort()
    for name in names:
      full = os.path.join(folder, name)
      found[os.path.relpath(full, root)] = os.lstat(full).st_size
  return found


def ownership(path):
  """Whether the folder at path is provably a checkpoint of ours: its
  metadata.json says we wrote it, its params/ holds exactly the files
  (and sizes) that metadata's manifest lists, and nothing else is there
  (entries a user added are `extra`)."""
  if os.path.islink(path) or not os.path.isdir(path):
    return Ownership(False, reason='not a folder')
  meta = _read_json(os.path.join(path, METADATA))
  if meta is None:
    return Ownership(False, reason=f'no readable {METADATA}')
  if meta.get('written_by') != WRITER or 'format_version' not in meta:
    return Ownership(False, reason=f'its {METADATA} was not written by '
                     f'{WRITER}')
  manifest = meta.get('files')
  if not isinstance(manifest, dict) or not manifest:
    return Ownership(False, reason=f'its {METADATA} lists no parameter '
                     'files')
  on_disk = _params_files(path)
  if on_disk != {k: v.get('size') if isinstance(v, dict) else None
                 for k, v in manifest.items()}:
    return Ownership(False, reason=f'its {PARAMS}/ does not hold exactly the '
                     f'files its {METADATA} lists')
  extra = tuple(sorted(set(os.listdir(path)) - {METADATA, PARAMS}))
  return Ownership(True, extra=extra)


def is_ours(path):
  """Provably a checkpoint of ours, with nothing added (ownership)."""
  found = ownership(path)
  return found.ours and not found.extra


def _remove_ours(path):
  """Removes, of the checkpoint at path, what its manifest names and the
  metadata, then the folders left empty; anything else stays (and is
  logged). Returns True if the folder is gone."""
  meta = _read_json(os.path.join(path, METADATA)) or {}
  for name in meta.get('files', {}):
    with contextlib.suppress(OSError):
      os.remove(os.path.join(path, name))
  with contextlib.suppress(OSError):
    os.remove(os.path.join(path, METADATA))
  for folder, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
    with contextlib.suppress(OSError):
      os.rmdir(folder)
  if os.path.lexists(path):
    logging.warning('Kept %s: it holds files the checkpoint did not write '
                    '(%s).', path, ', '.join(sorted(os.listdir(path))[:5]))
    return False
  return True


# --- Recovering an interrupted save --------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Temporary:
  path: str
  kind: str  # 'new' (being written) or 'old' (being retired)
  host: str
  pid: int


def _host():
  return re.sub(r'[^A-Za-z0-9_.]', '_', socket.gethostname())


def _temporary_name(path, kind):
  parent, base = os.path.split(path)
  return os.path.join(parent, f'.{base}.{kind}-{_host()}-{os.getpid()}-'
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
  if t.host != _host() or t.pid == os.getpid():
    return False
  try:
    os.kill(t.pid, 0)
  except ProcessLookupError:
    return True
  except OSError:
    return False
  return False


def recover(path):
  """Finishes a save that was killed between its two renames, and removes
  what is provably ours of the temporary folders of saves whose process
  is gone (a staging folder with our marker, or a checkpoint of ours)."""
  path = os.path.abspath(path)
  gone = [t for t in _temporaries(path) if _owner_gone(t)]
  if not os.path.lexists(path):
    # The new copy was complete (its metadata is written last); the old one
    # is the fallback.
    for kind in ('new', 'old'):
      candidates = [t for t in gone if t.kind == kind and is_ours(t.path)]
      if candidates:
        chosen = max(candidates, key=lambda t: os.path.getmtime(t.path))
        os.rename(chosen.path, path)
        gone.remove(chosen)
        logging.warning('Recovered the checkpoint at %s from a save that was '
                        'interrupted.', path)
        break
  for t in gone:
    if os.path.isfile(os.path.join(t.path, STAGING_MARKER)):
      shutil.rmtree(t.path, ignore_errors=True)  # all of it written by us
    elif ownership(t.path).ours:
      _remove_ours(t.path)
    else:
      logging.warning('Left %s alone: it is named like a temporary folder of '
                      'a checkpoint save, but nothing proves it ours.',
                      t.path)


# --- Saving ----------------------------------------------------------------------


def _not_ours_error(path, found):
  if found.ours:
    return CheckpointError(
        f'{path} is a VAE checkpoint of ours, but it also holds files that '
        f'it did not write ({", ".join(found.extra[:5])}). A new save would '
        'have to remove them, so nothing was trained and nothing there was '
        'moved. Move those files out of the checkpoint folder, or choose '
        'another --config.checkpoint_path (or --config.model_dir).')
  what = ('a file' if os.path.isfile(path) else 'a symbolic link'
          if os.path.islink(path) else
          f'a directory that is not a checkpoint of ours ({found.reason})')
  return CheckpointError(
      f'{path} exists and is {what}. A VAE checkpoint is saved only where '
      'nothing is, into an empty folder, or over an earlier checkpoint of '
      'ours, so nothing was trained and nothing there was moved. Choose '
      'another --config.checkpoint_path (or --config.model_dir), or move '
      f'that {"file" if os.path.isfile(path) else "directory"} away.')


def check_save_target(path):
  """Raises CheckpointError, before any training, if saving to `path` would
  replace or remove something that is not provably ours."""
  path = os.path.abspath(path)
  recover(path)
  if not os.path.lexists(path):
    _check_parent(path)
    return
  empty = (os.path.isdir(path) and not os.path.islink(path)
           and not os.listdir(path))
  found = Ownership(True) if empty else ownership(path)
  if not found.ours or found.extra:
    raise _not_ours_error(path, found)
  if not os.access(path, os.W_OK) or not os.access(os.path.dirname(path),
                                                   os.W_OK):
    raise CheckpointError(f'Cannot replace the checkpoint at {path}: it '
                          'or its folder is not writable.')


def _sha256(path):
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()


def _manifest(root):
  return {name: dict(size=size, sha256=_sha256(os.path.join(root, name)))
          for name, size in sorted(_params_files(root).items())}


def metadata_digest(meta):
  """SHA-256 of the metadata (all but this digest), as JSON reads it back."""
  body = {k: v for k, v in json.loads(json.dumps(meta)).items()
          if k != 'metadata_sha256'}
  return hashlib.sha256(json.dumps(body, sort_keys=True).encode()
                        ).hexdigest()


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


def _save_error(path, error):
  return CheckpointError(
      f'Saving the VAE checkpoint to {path} failed ({error}). Nothing at '
      f'{path} was changed (an earlier checkpoint there is kept), and the '
      'partial copy was removed. Free some space (or choose another '
      '--config.checkpoint_path / --config.model_dir) and run again.')


def save_vae(path, params, metadata):
  """Writes the checkpoint to `path`, replacing an earlier checkpoint of
  ours only once the new one is complete. Non-finite parameters are
  refused. Hold `locked(path)` around it (and the training before it)."""
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
    files.atomic_write(os.path.join(staging, STAGING_MARKER), '')
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
      # Orbax wraps the OS's error (a full disk) in its own types.
      raise _save_error(path, f'{type(e).__name__}: '
                        f'{str(e).splitlines()[0][:200] if str(e) else ""}'
                        ) from None
    finally:
      checkpointer.close()
    os.remove(os.path.join(staging, STAGING_MARKER))
    meta = dict(metadata, format_version=FORMAT_VERSION, written_by=WRITER,
                files=_manifest(staging))
    meta['metadata_sha256'] = metadata_digest(meta)
    # Written last: a staging directory with its metadata is complete.
    files.write_json(os.path.join(staging, METADATA), meta)
    if os.path.lexists(path):
      check_save_target(path)  # again: the folder may have changed since
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
    if os.path.exists(staging):
      shutil.rmtree(staging, ignore_errors=True)
    if retired and os.path.exists(retired):
      if ownership(retired).ours:
        _remove_ours(retired)
      else:  # the empty folder it replaced
        with contextlib.suppress(OSError):
          os.rmdir(retired)
  return path


def _check_parent(path):
  """A CheckpointError if no checkpoint could be written at path: the
  nearest existing folder on its way is a file or is not writable."""
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


@contextlib.contextmanager
def locked(path):
  """Holds the checkpoint's lock (a file beside it) for a whole save or
  restore; a CheckpointError at once if another process holds it."""
  path = os.path.abspath(path)
  parent, base = os.path.split(path)
  if not os.path.isdir(parent):
    _check_parent(path)
  lock = files.Lock(os.path.join(parent, f'.{base}.lock'),
                    f'the VAE checkpoint {path}')
  try:
    lock.acquire()
  except files.LockHeld as e:
    raise CheckpointError(
        f'The VAE checkpoint at {path} is being saved or read by another run '
        f'({e.owner or "owner unknown"}). Two runs sharing one checkpoint '
        'path could each report the other\'s VAE: wait for that run to '
        'finish, or give this one its own --config.checkpoint_path.'
        ) from None
  try:
    yield path
  finally:
    lock.release()


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
  """True if a checkpoint that says we wrote it is at path (after
  recovering an interrupted save); restoring it checks the rest."""
  recover(path)
  meta = _read_json(os.path.join(path, METADATA))
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
  recover(path)
  meta_path = os.path.join(path, METADATA)
  if not os.path.isdir(os.path.join(path, PARAMS)) or not os.path.isfile(
      meta_path):
    raise _no_checkpoint_error(path, expected, hint)
  meta = _read_json(meta_path)
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
        or _sha256(full) != entry['sha256']):
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
