"""Fetching an archive dataset's zip and storing it in the layout we read.

Everything goes to temporary files under data_dir first and is moved into
place only once checked, so an interrupted or failed download leaves nothing
behind.
"""

import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile

from lstsaug_jax import files
from lstsaug_jax import formats
from lstsaug_jax.errors import DataError

DEFAULT_URL = 'https://timeseriesclassification.com/aeon-toolkit'
# Readable split formats inside the archive's zips, best first.
ZIP_FORMATS = ('.ts', '.tsv', '.txt')


def fetch(url, dest, *, timeout=60, retries=1, progress=True):
  """Downloads url to the file dest, retrying once on a network error."""
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top
  for attempt in range(retries + 1):
    try:
      with urllib.request.urlopen(url, timeout=timeout) as response, \
          open(dest, 'wb') as out:
        total = int(response.headers.get('Content-Length') or 0) or None
        with tqdm.tqdm(total=total, unit='B', unit_scale=True,
                       desc=f'download {os.path.basename(url)}',
                       disable=not progress) as bar:
          while chunk := response.read(1 << 16):
            out.write(chunk)
            bar.update(len(chunk))
        if total is not None and out.tell() != total:
          raise urllib.error.URLError(
              f'connection closed after {out.tell()} of {total} bytes')
      return
    except (urllib.error.URLError, OSError, TimeoutError) as e:
      if isinstance(e, urllib.error.HTTPError) and e.code == 404:
        raise
      if attempt == retries:
        raise
      time.sleep(1.0)


def safe_extract(zip_path, target):
  """Extracts a zip after checking CRCs and that no entry leaves target."""
  try:
    with zipfile.ZipFile(zip_path) as archive:
      root = os.path.realpath(target)
      for info in archive.infolist():
        dest = os.path.realpath(os.path.join(root, info.filename))
        if os.path.isabs(info.filename) or not (
            dest == root or dest.startswith(root + os.sep)):
          raise DataError(
              f'The downloaded zip {zip_path} has an entry '
              f'{info.filename!r} that would be written outside {target}; '
              'refusing to extract it.')
      broken = archive.testzip()
      if broken is not None:
        raise DataError(f'The downloaded zip is corrupt: CRC check failed '
                        f'for {broken!r}. Try again later.')
      archive.extractall(root)
  except zipfile.BadZipFile as e:
    raise DataError(f'The downloaded file is not a readable zip ({e}); the '
                    'download was probably cut short. Try again.') from None


def find_split(folder, name, split):
  for fmt in ZIP_FORMATS:
    for dirpath, _, names in os.walk(folder):
      for f in names:
        if f.lower() == f'{name}_{split}{fmt}'.lower():
          return os.path.join(dirpath, f)
  return None


def download_dataset(name, data_dir, base_url, *, timeout=60, progress=True,
                     multivariate=False):
  """Fetches {base_url}/{name}.zip; stores UCRArchive_2018/{name}/*.tsv, or
  for a multivariate dataset Multivariate_ts/{name}/*.ts (the archives'
  layouts).

  Returns the dataset's folder.
  """
  url = f'{base_url.rstrip("/")}/{name}.zip'
  final = os.path.join(data_dir, 'Multivariate_ts' if multivariate
                       else 'UCRArchive_2018', name)
  created = files.makedirs(os.path.dirname(final))
  work = tempfile.mkdtemp(prefix=f'.{name}-download-',
                          dir=os.path.dirname(final))
  done = False
  try:
    zip_path = os.path.join(work, f'{name}.zip')
    fetch(url, zip_path, timeout=timeout, progress=progress)
    extracted = os.path.join(work, 'extracted')
    os.makedirs(extracted)
    safe_extract(zip_path, extracted)
    staged = os.path.join(work, name)
    os.makedirs(staged)
    for split in ('TRAIN', 'TEST'):
      source = find_split(extracted, name, split)
      if source is None:
        raise DataError(
            f'The zip from {url} holds no {name}_{split} file in a format we '
            f'read ({", ".join(ZIP_FORMATS)}).')
      raw = formats.read_split(source)  # checked before it is kept
      if multivariate or raw.values.shape[1] > 1:
        if not source.lower().endswith('.ts'):
          raise DataError(f'The zip from {url} holds {name}_{split} as '
                          f'{os.path.basename(source)}; multivariate data '
                          'must be a .ts file.')
        shutil.copyfile(source, os.path.join(staged, f'{name}_{split}.ts'))
      else:
        with files.replacing(os.path.join(staged, f'{name}_{split}.tsv'),
                             newline='') as f:
          formats.write_tsv(f, raw.values, raw.labels)
    os.rename(staged, final)
    done = True
  finally:
    shutil.rmtree(work, ignore_errors=True)
    if not done:
      # Folders this download created, innermost first, go too: a failed
      # download leaves nothing behind.
      for folder in created:
        try:
          os.rmdir(folder)
        except OSError:
          break
  return final
