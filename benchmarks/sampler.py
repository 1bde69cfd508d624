"""How long lsa.Sampler.fit_resample takes on a real imbalanced set, with
the default VAE (400 epochs, hidden (256, 128, 64), latent 64):

  python benchmarks/sampler.py --data_dir=DATA_DIR/imbalanced \
      --dataset=Strawberry --method=latent_class \
      --json=benchmarks/results/sampler/strawberry_latent_class.json

prints the wall time of fit_resample (VAE training, compilation and the
draws; a first call in a fresh process, as a user meets it) and of a
second call on the same data (programs compiled), the class counts before
and after, the machine and the library versions.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
from lstsaug_jax import files  # pylint: disable=g-import-not-at-top
from lstsaug_jax import reporting  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string('data_dir', 'data', 'Folder of the dataset.')
_DATASET = flags.DEFINE_string('dataset', 'Strawberry', 'Dataset name.')
_METHOD = flags.DEFINE_string('method', 'latent_class', 'Method or spec.')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampler seed.')
_JSON = flags.DEFINE_string('json', None, 'Also write the numbers here.')


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  d = lsa.load_dataset(_DATASET.value, data_dir=_DATA_DIR.value,
                       download=False)
  y = np.array(d.class_names)[d.y_train]
  sampler = lsa.Sampler(_METHOD.value, seed=_SEED.value,
                        vae_config={'progress': False})
  times = []
  for _ in range(2):
    start = time.perf_counter()
    x_res, y_res = sampler.fit_resample(d.x_train, y)
    times.append(time.perf_counter() - start)
  before = dict(zip(*map(np.ndarray.tolist, np.unique(y, return_counts=True))))
  after = dict(zip(*map(np.ndarray.tolist, np.unique(y_res,
                                                     return_counts=True))))
  out = dict(dataset=_DATASET.value, method=_METHOD.value,
             series=int(d.x_train.shape[0]),
             length=int(d.x_train.shape[-1]), class_counts_before=before,
             class_counts_after=after, first_call_s=round(times[0], 2),
             second_call_s=round(times[1], 2),
             vae_r2_train=sampler.vae_.quality.get('r2_train')
             if sampler.vae_ else None,
             machine=reporting.machine_id(), jax=jax.__version__,
             numpy=np.__version__)
  print(json.dumps(out, indent=1))
  if _JSON.value:
    os.makedirs(os.path.dirname(os.path.abspath(_JSON.value)), exist_ok=True)
    files.write_json(_JSON.value, out)


if __name__ == '__main__':
  app.run(main)
