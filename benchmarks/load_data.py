"""Time to load every dataset under a data_dir (median of repeats).

python benchmarks/load_data.py --data_dir=../shared/data --json=/tmp/load.json
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lstsaug_jax import data  # pylint: disable=g-import-not-at-top
from lstsaug_jax import files  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string('data_dir', '../shared/data', 'Data folder.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Loads per dataset.')
_JSON = flags.DEFINE_string('json', None, 'Write the timings here.')


def main(argv):
  del argv
  names = sorted(os.listdir(os.path.join(_DATA_DIR.value, 'UCRArchive_2018')))
  timings = {}
  for name in names:
    times = []
    for _ in range(_REPEATS.value):
      start = time.perf_counter()
      data.load_dataset(_DATA_DIR.value, name)
      times.append(time.perf_counter() - start)
    timings[name] = sorted(times)[len(times) // 2]
    print(f'{name:<24} {timings[name] * 1000:7.1f} ms')
  slowest = max(timings, key=timings.get)
  print(f'slowest: {slowest} {timings[slowest] * 1000:.1f} ms over '
        f'{len(names)} datasets')
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(dict(median_load_seconds=timings), indent=2) + '\n')


if __name__ == '__main__':
  app.run(main)
