"""What a run will allocate and do, checked before it starts: a setting
that cannot work on this machine (an array larger than its memory, a step
count past the step counter's range) is refused with the figure and the
limit, not met minutes in as an overflow or an out-of-memory kill."""

import os

from lstsaug_jax.errors import ConfigError

# TrainState.step and optax's counters are int32.
MAX_STEPS = 2**31 - 1


def available_memory():
  """Bytes of memory available to a new allocation (MemAvailable on Linux,
  else the machine's total)."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  try:
    return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  except (ValueError, OSError, AttributeError):
    return None


def size_text(num_bytes):
  for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'):
    if num_bytes < 1024 or unit == 'PiB':
      return (f'{num_bytes:.0f} {unit}' if unit == 'bytes'
              else f'{num_bytes:.1f} {unit}')
    num_bytes /= 1024
  return f'{num_bytes} bytes'


def check_memory(what, num_bytes, fix):
  """A ConfigError if `what` needs more than the memory available."""
  available = available_memory()
  if available is not None and num_bytes > available:
    raise ConfigError(
        f'{what} would need about {size_text(num_bytes)} of memory, but this '
        f'machine has {size_text(available)} available, so nothing was run. '
        f'{fix}')


def check_steps(what, steps, fix):
  """A ConfigError if a training of `steps` gradient steps would overflow
  the step counter."""
  if steps > MAX_STEPS:
    raise ConfigError(
        f'{what} would take {steps:,} gradient steps, past the step '
        f'counter\'s limit of {MAX_STEPS:,} (int32), so nothing was run. '
        f'{fix}')


def series_bytes(num_series, channels, length, copies=3, itemsize=4):
  """About what num_series float series take in a run: the array and the
  copies made of it on the way (host, device, a padded or shuffled one)."""
  return int(num_series) * int(channels) * int(length) * itemsize * copies
