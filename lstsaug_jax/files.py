"""Every file the project writes goes through here.

- `replacing(path)` / `atomic_write(path, content)`: the new content goes to
  a temporary file created beside `path` with O_CREAT | O_EXCL (mkstemp,
  which never follows a symbolic link and never opens an existing file),
  then is renamed over `path`. A reader sees the old content or the new,
  never a part; a failed write leaves nothing behind; and a link planted at
  a predictable temporary name cannot redirect the write to another file.
- `Lock(path)`: an exclusive lock file, opened without following links,
  that truncates nothing but a lock file of ours.
- `check_writable_dir`: a folder checked before work starts.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import stat
import tempfile
import time

from lstsaug_jax.errors import OutputError


def _umask():
  # os.umask both sets and returns it: read once, at import, before any
  # thread of ours could create a file meanwhile.
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


_UMASK = _umask()


@contextlib.contextmanager
def replacing(path, mode='w', newline=None):
  """A file object for path's new content: written to an exclusive
  temporary file beside path, flushed to disk, then renamed over path.
  If the body raises, path is untouched and the temporary file removed."""
  path = os.path.abspath(path)
  directory, base = os.path.split(path)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{base}.',
                             suffix='.tmp')
  try:
    # mkstemp makes the file private (0600); a result file gets the
    # permissions any new file of this process would.
    os.fchmod(fd, 0o666 & ~_UMASK)
    with os.fdopen(fd, mode, newline=newline) as f:
      fd = None
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    tmp = None
  finally:
    if fd is not None:
      os.close(fd)
    if tmp is not None:
      with contextlib.suppress(OSError):
        os.remove(tmp)


def atomic_write(path, content):
  """Writes content (str or bytes) to path through `replacing`; returns
  path."""
  with replacing(path, 'wb' if isinstance(content, bytes) else 'w') as f:
    f.write(content)
  return path


def write_json(path, obj):
  return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True,
                                       default=str) + '\n')


def open_append(path):
  """A descriptor that appends to path (created if absent), refusing a
  symbolic link or anything but a regular file at path."""
  try:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o666)
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise OutputError(
          f'{path} is a symbolic link; this file is always one of ours, so '
          'nothing is written through the link. Remove the link and run '
          'again.') from None
    raise
  if not stat.S_ISREG(os.fstat(fd).st_mode):
    os.close(fd)
    raise OutputError(f'{path} is not a regular file; remove it and run '
                      'again.')
  return fd


# --- Locks -------------------------------------------------------------------

_LOCK_TEXT = 'pid {pid} on host {host}, since {since}'
# What a lock file of ours holds, or nothing (created, not yet written).
_LOCK_PATTERN = re.compile(r'pid \d+ on host .*, since .*')


class LockHeld(OutputError):
  """Another process holds the lock (`owner` says who)."""

  def __init__(self, path, owner):
    super().__init__(f'{path} is locked by {owner or "another process"}')
    self.path, self.owner = path, owner


class Lock:
  """An exclusive lock on a file beside the thing it guards.

  The lock file is opened with O_NOFOLLOW (a symbolic link there is an
  error, never followed) and locked with flock, which the kernel releases
  when the process dies. Its content, the owner's pid, host and start
  time, is written only once the file is known to be a lock of ours (empty
  or holding such a line); anything else at that name is an error and is
  left as it was. Released, the file is removed if it is still ours.
  """

  def __init__(self, path, what='this file'):
    self.path, self.what = os.path.abspath(path), what
    self._fd = None
    self._created = []  # folders made for the lock, innermost first

  def _open(self):
    try:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                   | os.O_CLOEXEC, 0o644)
    except OSError as e:
      if e.errno == errno.ELOOP:
        raise OutputError(
            f'{self.path} is a symbolic link, but it is the lock file of '
            f'{self.what}, which is always a plain file of ours: nothing was '
            'written through the link. Remove the link and run again.'
            ) from None
      raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
      os.close(fd)
      raise OutputError(f'{self.path} is not a regular file, but it is the '
                        f'lock file of {self.what}. Remove it and run again.')
    return fd

  def acquire(self):
    """Takes the lock or raises LockHeld at once. Folders made to hold the
    lock file are removed on release if nothing else went into them."""
    self._created = makedirs(os.path.dirname(self.path))
    try:
      self._take()
    except BaseException:
      self._remove_created()
      raise
    return self

  def _take(self):
    while True:
      fd = self._open()
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        try:
          owner = os.read(fd, 512).decode(errors='replace').strip()
        finally:
          os.close(fd)
        raise LockHeld(self.path, owner) from None
      # Its last owner may have removed the file between our open and our
      # lock: then lock the new one instead.
      try:
        same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    content = os.read(fd, 4096).decode(errors='replace').strip()
    if content and not _LOCK_PATTERN.fullmatch(content):
      os.close(fd)
      raise OutputError(
          f'{self.path} is where the lock file of {self.what} goes, but it '
          f'holds something else ({content[:60]!r}...), so it was left as it '
          'was. Move that file away and run again.')
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, _LOCK_TEXT.format(
        pid=os.getpid(), host=socket.gethostname(),
        since=time.strftime('%Y-%m-%d %H:%M:%S')).encode())
    self._fd = fd

  def _remove_created(self):
    for folder in self._created:
      try:
        os.rmdir(folder)
      except OSError:
        break
    self._created = []

  def release(self):
    if self._fd is None:
      return
    try:
      if os.fstat(self._fd).st_ino == os.lstat(self.path).st_ino:
        os.remove(self.path)
    except OSError:
      pass
    os.close(self._fd)
    self._fd = None
    self._remove_created()

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


# --- Folders -----------------------------------------------------------------


def makedirs(path):
  """os.makedirs(path, exist_ok=True); returns the folders it created,
  innermost first, so that a step that fails can remove them again."""
  created = []
  path = os.path.abspath(path)
  while not os.path.isdir(path):
    created.append(path)
    path = os.path.dirname(path)
  if created:
    os.makedirs(created[0], exist_ok=True)
  return created


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
