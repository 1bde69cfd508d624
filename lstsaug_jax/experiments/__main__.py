"""`python -m lstsaug_jax.experiments --config=configs/experiments/NAME.py`.

Any config field can be overridden, e.g. `--config.num_seeds=5` or
`--config.sweep.datasets=GunPoint,CBF`.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from lstsaug_jax import cli
from lstsaug_jax.experiments import runner

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A sweep config, e.g. configs/experiments/cpu_small.py.',
    lock_config=True)


def main(argv):
  config = cli.config_value(_CONFIG)
  cli.start(argv, config)
  try:
    cli.run(runner.run_sweep, config)
  except KeyboardInterrupt:
    raise SystemExit(
        'Interrupted: every finished run is in the results CSV; run the same '
        'command again to resume.') from None


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=cli.parse_flags)
