"""The project's error types.

Each carries a one-paragraph message for the user: what was wrong and how to
fix it. The command lines print these without a traceback; any other
exception (out of memory, a bug) keeps its traceback.
"""


class LstsaugError(Exception):
  """An error whose message is meant for the user."""


class ConfigError(LstsaugError, ValueError):
  """A config field with a value the run cannot use."""


class DataError(LstsaugError, ValueError):
  """Bad or missing input data."""


class CheckpointError(LstsaugError, ValueError):
  """A missing or damaged checkpoint, one that does not fit the current
  run, or a save that would replace something that is not ours."""


class ResultsError(LstsaugError, ValueError):
  """A results CSV or anchors file that cannot be read or extended."""


class AugmentationError(LstsaugError, ValueError):
  """Synthetic series that cannot be trained on (NaN or infinite values)."""


class TrainingError(LstsaugError, RuntimeError):
  """Training that cannot give a model worth reporting (a non-finite loss)."""


class OutputError(LstsaugError, OSError):
  """Writing a run's outputs failed (a full disk, a read-only folder)."""
