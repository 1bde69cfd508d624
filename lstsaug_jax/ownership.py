"""Which folders are checkpoints of ours, proved, not assumed; and the
recovery of a save interrupted between its two renames.

A folder is ours when its metadata.json says we wrote it (written_by), its
params/ holds exactly the files (and sizes) that metadata's manifest lists,
and nothing else is there. Only such a folder (or an empty one) may be
replaced by a save, and of it only what its manifest names is removed.
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

from lstsaug_jax import files
from lstsaug_jax.errors import CheckpointError

METADATA = 'metadata.json'
PARAMS = 'params'
WRITER = 'lstsaug_jax'

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


def read_json(path):
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  return meta if isinstance(meta, dict) else None


def params_files(root):
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
  meta = read_json(os.path.join(path, METADATA))
  if meta is None:
    return Ownership(False, reason=f'no readable {METADATA}')
  if meta.get('written_by') != WRITER or 'format_version' not in meta:
    return Ownership(False, reason=f'its {METADATA} was not written by '
                     f'{WRITER}')
  manifest = meta.get('files')
  if not isinstance(manifest, dict) or not manifest:
    return Ownership(False, reason=f'its {METADATA} lists no parameter '
                     'files')
  on_disk = params_files(path)
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


def remove_ours(path):
  """Removes, of the checkpoint at path, what its manifest names and the
  metadata, then the folders left empty; anything else stays (and is
  logged). Returns True if the folder is gone."""
  meta = read_json(os.path.join(path, METADATA)) or {}
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


def temporary_name(path, kind):
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
      remove_ours(t.path)
    else:
      logging.warning('Left %s alone: it is named like a temporary folder of '
                      'a checkpoint save, but nothing proves it ours.',
                      t.path)



# --- Where a save may go -------------------------------------------------------


def check_parent(path):
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
    check_parent(path)
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


def sha256(path):
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()


def manifest(root):
  return {name: dict(size=size, sha256=sha256(os.path.join(root, name)))
          for name, size in sorted(params_files(root).items())}


def fsync_dir(path):
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


@contextlib.contextmanager
def locked(path):
  """Holds the checkpoint's lock (a file beside it) for a whole save or
  restore; a CheckpointError at once if another process holds it."""
  path = os.path.abspath(path)
  parent, base = os.path.split(path)
  if not os.path.isdir(parent):
    check_parent(path)
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
