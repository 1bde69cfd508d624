"""A sweep: every dataset x method x seed of a protocol, one results row
per run, resumable.

  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods
  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods,other12,classic

The config string: a protocol, then optionally a dataset group, a seed set
and a method set (configs/experiments/sweep.py lists them). Rough times on
a 2-core CPU, three seeds: cpu_small or one method of `methods` on its 14
datasets, 15-25 minutes; every method of `methods`, 4-6 hours; the other
12 datasets about three times as long. `--config=configs/tiny.py:sweep`
sweeps generated data in seconds. Any field can be overridden, e.g.
--config.num_seeds=5 or --config.sweep.datasets=GunPoint,CBF; what each
does: docs/configuration.md and docs/experiments.md.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from lstsaug_jax import cli
from lstsaug_jax.experiments import runner

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'A sweep config and its string, e.g. '
    'configs/experiments/sweep.py:methods (see above).',
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
