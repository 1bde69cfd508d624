"""The VAE's quality across datasets and settings, without classifiers.

  python benchmarks/vae_quality.py --data_dir=../shared/data \
      --variants="default;vae.beta=0.1;vae.beta=0.01" --json=OUT.json

For each variant (config overrides, ',' between fields, ';' between
variants) and dataset (cpu_small's by default), trains the VAEs of --seeds
seeds in one program and reports, as lstsaug_jax.diagnostics does, the
reconstruction R^2 of training and test series, KL, active dimensions and
the latent head's test accuracy; then per variant the median over datasets
and the wall time. The test set only measures the generator here; no
classifier or setting of a sweep is chosen from it.
"""

import json
import sys
import time

from absl import app
from absl import flags
import numpy as np

import lstsaug_jax as lsa
from lstsaug_jax import files
from lstsaug_jax import data
from lstsaug_jax import diagnostics
from lstsaug_jax import parallel
from lstsaug_jax import pipeline
from lstsaug_jax import reporting
from lstsaug_jax import specs
from lstsaug_jax import stages

sys.path.insert(0, '.')
from configs.experiments import sweep  # pylint: disable=g-import-not-at-top,wrong-import-position

_DATA_DIR = flags.DEFINE_string('data_dir', 'data', 'Archive folder.')
_DATASETS = flags.DEFINE_list('datasets', list(sweep.GROUPS['cpu_small']),
                              'Datasets.')
_VARIANTS = flags.DEFINE_string('variants', 'default',
                                "';'-separated variants of ','-separated "
                                'field=value overrides.')
_SEEDS = flags.DEFINE_integer('seeds', 1, 'Seeds per dataset.')
_JSON = flags.DEFINE_string('json', None, 'Write the figures here.')


def overrides(variant):
  if variant.strip() in ('', 'default'):
    return {}
  out = {}
  for part in specs.split_top_level(variant):
    key, value = part.split('=')
    try:
      value = eval(value, {})  # pylint: disable=eval-used
    except Exception:  # pylint: disable=broad-except
      pass
    out[key.strip()] = value
  return out


def main(argv):
  del argv
  report = dict(machine=reporting.machine(), seeds=_SEEDS.value, variants={})
  for variant in _VARIANTS.value.split(';'):
    config = lsa.make_config(dict(overrides(variant), data_dir=_DATA_DIR.value,
                                  progress=False))
    rows = {}
    start = time.perf_counter()
    for name in _DATASETS.value:
      config.dataset = name
      dataset = data.load(config)
      seeds = [config.seed + k for k in range(_SEEDS.value)]
      ctx = pipeline.context(config, dataset, reporting.NullLogger(), seeds,
                             parallel.Placement())
      vae = ctx.vae
      params = stages.train_vae(ctx)
      quality = diagnostics.summary(diagnostics.vae_quality(
          vae, params, dataset.x_train, dataset.y_train, dataset.x_test,
          dataset.y_test))
      rows[name] = quality
      print(f'{variant:>30} {name:>22} R2 train {quality["r2_train"]:.3f} '
            f'test {quality["r2_test"]:.3f} KL {quality["kl"]:8.2f} active '
            f'{quality["active_dims"]:4.1f} head '
            f'{quality["head_accuracy_test"]:.3f}',
            flush=True)
    summary = {k: float(np.median([r[k] for r in rows.values()]))
               for k in ('r2_train', 'r2_test', 'kl', 'active_dims',
                         'head_accuracy_train', 'head_accuracy_test')}
    summary['wall_time_s'] = time.perf_counter() - start
    print(f'{variant}: median over {len(rows)} datasets {summary}',
          flush=True)
    report['variants'][variant] = dict(median=summary, datasets=rows)
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(report, indent=2) + '\n')


if __name__ == '__main__':
  app.run(main)
