"""One run: the VAE, then the baseline and the augmented classifier.

  python -m lstsaug_jax.main --config=configs/quickstart.py
  python -m lstsaug_jax.main --config=configs/gunpoint.py --config.baseline=True --config.test_augment=True

The shipped configs (configs/), with rough times on a 2-core CPU:
  quickstart.py      generated data, offline; under a minute
  tiny.py            seconds-long, for tests
  gunpoint.py        GunPoint (downloaded when absent), 3 seeds; minutes
  symbols.py         Symbols, the original script's example; minutes
  basicmotions.py, japanesevowels.py   multivariate UEA data; about 3 min
  default.py         every field at its default (Symbols, VAE only)
Any field is overridden with --config.FIELD=VALUE, e.g.
--config.num_epochs=50 or --config.augment.method="jitter(sigma=0.01)".
Every field and what it does: docs/configuration.md.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from lstsaug_jax import cli
from lstsaug_jax import pipeline
from lstsaug_jax import reporting

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A config file, e.g. configs/quickstart.py (the list '
    'above; every field in docs/configuration.md).',
    lock_config=True)


def main(argv):
  config = cli.config_value(_CONFIG)
  cli.start(argv, config)
  run = cli.run(pipeline.run, config)
  print(reporting.format_table(run.results))


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=cli.parse_flags)
