"""What both command lines (main, experiments) do before and around a run."""

from absl import app
from absl import flags
from absl import logging
import jax

from lstsaug_jax import checkpoint
from lstsaug_jax import data

# Errors that carry a message for the user; anything else is a bug and keeps
# its traceback.
USER_ERRORS = (data.DataError, checkpoint.CheckpointError, ValueError,
               RuntimeError)


def start(argv, config):
  """Refuses stray arguments, quiets library logs, joins a multi-host run."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    # Orbax logs every file it writes at INFO; -v 0 brings that back.
    logging.set_verbosity(logging.WARNING)
  if config.distributed:
    # Multi-host (README "Many seeds, many devices").
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address or None,
        num_processes=config.num_processes or None,
        process_id=config.process_id if config.process_id >= 0 else None)
