"""Command line: `python -m lstsaug_jax.main --config=configs/symbols.py`.

Any config field can be overridden, e.g. `--config.num_epochs=50`.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from lstsaug_jax import cli
from lstsaug_jax import pipeline
from lstsaug_jax import reporting

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file, e.g. configs/symbols.py.',
    lock_config=True)


def main(argv):
  config = cli.config_value(_CONFIG)
  cli.start(argv, config)
  run = cli.run(pipeline.run, config)
  print(reporting.format_table(run.results))


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=cli.parse_flags)
