"""Command line: `python -m lstsaug_jax.main --config=configs/symbols.py`.

Any config field can be overridden, e.g. `--config.num_epochs=50`.
"""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import pipeline

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file, e.g. configs/symbols.py.',
    lock_config=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    # Orbax logs every file it writes at INFO; -v 0 brings that back.
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  if config.distributed:
    # Multi-host (README "Many devices, many hosts").
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address or None,
        num_processes=config.num_processes or None,
        process_id=config.process_id if config.process_id >= 0 else None)
  try:
    pipeline.run(config)
  except (data.DataError, checkpoint.CheckpointError, ValueError,
          RuntimeError) as e:
    raise SystemExit(f'error: {e}') from None


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
