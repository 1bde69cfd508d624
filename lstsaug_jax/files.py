"""Writing files so that a reader never sees half of one, and checking
folders before work starts rather than after it."""

import json
import os
import uuid

from lstsaug_jax.errors import OutputError


def atomic_write(path, content):
  """Writes content (str or bytes) to a temporary file beside path, then
  renames it over path: path holds the old content or the new, never a
  part. A failed write leaves nothing behind."""
  tmp = f'{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}'
  try:
    with open(tmp, 'wb' if isinstance(content, bytes) else 'w') as f:
      f.write(content)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def write_json(path, obj):
  return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True,
                                       default=str) + '\n')


def check_writable_dir(path, field):
  """Raises OutputError if the folder `path` (named by config `field`)
  could not be created or written: checks the nearest existing folder on
  its way, and creates nothing."""
  path = os.path.abspath(path)
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise OutputError(
        f'{field}={path} cannot be used: {existing} is a file, not a folder. '
        f'Point --config.{field} at a folder (or remove that file).')
  if not os.access(existing, os.W_OK | os.X_OK):
    raise OutputError(
        f'{field}={path} cannot be used: {existing} is not writable. Point '
        f'--config.{field} at a folder you can write to.')
