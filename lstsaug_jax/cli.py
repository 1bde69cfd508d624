"""What the command lines (main, experiments) do before and around a run:
parse flags and the config with one-paragraph errors, set process-wide
options, join a multi-host run, and print the project's errors without a
traceback."""

import logging as std_logging
import os
import re
import sys

from absl import app
from absl import flags
from absl import logging
import jax

from lstsaug_jax import configuration
from lstsaug_jax.errors import LstsaugError

# Errors that carry a message for the user; anything else (out of memory, a
# bug) is not caught and keeps its traceback.
USER_ERRORS = (LstsaugError,)

CONFIG_HELP = ('configs/default.py lists every field with its default '
               '(docs/configuration.md "Config fields").')


def data_dir_flag():
  """The --data_dir flag of the command lines that read datasets by name
  (one definition, shared by those imported together)."""
  if 'data_dir' in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS['data_dir'])
  return flags.DEFINE_string(
      'data_dir', 'data', 'The folder holding the datasets (the layouts of '
      'docs/data.md); the config field data_dir of the same name.')


def _fail(message):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def _unknown_field(argv, error):
  text = str(error).replace('\\n', '\n').replace("\\'", "'")
  quoted = re.findall(r"'([A-Za-z0-9_]+)'", text)
  key = quoted[0] if quoted else '?'
  args = [a for a in argv[1:] if a.startswith('--config.')
          and re.search(rf'\.{re.escape(key)}(=|$)', a.split('=')[0] + '=')]
  hint = re.search(r'Did you mean "([^"]+)"', text)
  return (f'unknown config field {key!r}'
          + (f' in {args[0]}' if args else '') + '.'
          + (f' Did you mean {hint.group(1)!r}?' if hint else '')
          + f' {CONFIG_HELP}')


def config_import_root(argv):
  """The folder above the config file's package (the top folder up from the
  file that has no __init__.py), so a config can import its siblings as
  `configs.NAME` wherever the configs folder is copied to."""
  for i, arg in enumerate(argv[1:], 1):
    if arg.startswith('--config='):
      path = arg.split('=', 1)[1]
    elif arg == '--config' and i + 1 < len(argv):
      path = argv[i + 1]
    else:
      continue
    folder = os.path.dirname(os.path.abspath(path.split(':')[0]))
    while os.path.isfile(os.path.join(folder, '__init__.py')):
      folder = os.path.dirname(folder)
    return folder
  return None


def last_override_wins(argv):
  """argv with only the last of repeated --config.FIELD overrides (absl
  adds up repeated tuple flags: --config.sweep.datasets=A
  --config.sweep.datasets=B would run both), as every other flag's last
  value wins."""
  spans = []  # (field, first index, last index) of each override
  i = 1
  while i < len(argv):
    arg = argv[i]
    end = i
    if arg.startswith('--config.'):
      name = arg[2:].split('=', 1)[0]
      if '=' not in arg and i + 1 < len(argv) and not argv[i + 1].startswith(
          '--'):
        end = i + 1  # --config.FIELD VALUE
      spans.append((name, i, end))
    i = end + 1
  last = {name: start for name, start, _ in spans}
  dropped = {k for name, start, end in spans if last[name] != start
             for k in range(start, end + 1)}
  return [a for k, a in enumerate(argv) if k not in dropped]


def parse_flags(argv):
  """absl's flag parsing, with a bad config file, an unknown field or a
  value of the wrong type reported in one paragraph."""
  argv = last_override_wins(argv)
  root = config_import_root(argv)
  if root and root not in sys.path:
    sys.path.insert(0, root)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
    if 'must have a value other than None' in message:
      _fail('--config is required: pass --config=PATH to a config file, e.g. '
            '--config=configs/quickstart.py (a first run, under a minute). '
            + CONFIG_HELP)
    if 'Error whilst parsing config file' in message:
      message = message.split('\n')[0] + ' ' + message.strip().split('\n')[-1]
    _fail(f'{message}. Values must have the type of the field\'s default; '
          'tuples are written "(128,64)", tuples of strings '
          '"(\'GunPoint\',\'Coffee\')". ' + CONFIG_HELP)
  except (AttributeError, KeyError) as e:
    _fail(_unknown_field(argv, e))
  except SyntaxError as e:
    _fail(f'the config file {e.filename} is not valid Python (line '
          f'{e.lineno}: {e.msg}). Fix it, or start from configs/default.py.')
  except OSError as e:
    _config_file_error(e)


def _config_file_error(error):
  detail = [l.strip() for l in str(error).splitlines() if l.strip()]
  _fail(f'could not load the config file: {detail[-1] if detail else error}. '
        'Pass --config=PATH to a file with a get_config() function, e.g. '
        '--config=configs/quickstart.py; the shipped configs are in '
        'configs/. ' + CONFIG_HELP)


def config_value(config_flag):
  """The parsed config, or a one-paragraph error if its file could not be
  loaded (the loader defers that error to the first access)."""
  try:
    config = config_flag.value
    is_config = hasattr(config, 'to_dict')  # a failed load raises here
  except OSError as e:
    _config_file_error(e)
  if not is_config:
    _fail(f'the config file passed with --config returned {config!r} from '
          'get_config(); it must return an ml_collections.ConfigDict (start '
          'from configs/default.py).')
  return configuration.normalise(config)


class _OwnRecords(std_logging.Filter):
  """This package's records, and other packages' from WARNING up."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING
            or f'{os.sep}lstsaug_jax{os.sep}' in record.pathname)


def start(argv, config):
  """Refuses stray arguments, quiets library logs, sets process-wide JAX
  options, joins a multi-host run."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    # Our progress messages as plain lines; other libraries' (Orbax logs
    # every file it writes at INFO) only from WARNING up. -v 0 shows all.
    logging.set_verbosity(logging.INFO)
    handler = logging.get_absl_handler().python_handler
    handler.setFormatter(std_logging.Formatter('%(message)s'))
    handler.addFilter(_OwnRecords())
  if config.deterministic:
    os.environ['XLA_FLAGS'] = deterministic_xla_flags(
        os.environ.get('XLA_FLAGS', ''))
    if _backend_started():
      # XLA reads its flags once, when the first backend starts.
      logging.warning(
          'deterministic=True came too late: JAX had already started its '
          'backend, so GPU runs of this process may not repeat exactly. Set '
          'XLA_FLAGS=%s before anything uses JAX.', DETERMINISTIC_XLA_FLAG)
  if config.distributed:
    # Multi-host (docs/performance.md "Many seeds, many devices"). CPU
    # processes need a collectives backend to exchange arrays (GPUs and TPUs
    # bring theirs).
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address or None,
        num_processes=config.num_processes or None,
        process_id=config.process_id if config.process_id >= 0 else None)
  cache = compilation_cache_dir(config.compilation_cache_dir)
  if cache:
    jax.config.update('jax_compilation_cache_dir', cache)
    # Every program: on a CPU most of ours compile in under JAX's default
    # threshold of a second, and their sum is what a rerun waits for.
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)


# XLA:GPU picks convolution and matmul kernels by timing candidates while it
# compiles, and some kernels sum with atomics: either makes two runs of one
# seed differ. This flag takes the first candidate and deterministic kernels
# (and implies --xla_gpu_exclude_nondeterministic_ops). CPUs ignore it.
DETERMINISTIC_XLA_FLAG = '--xla_gpu_deterministic_ops=true'


def deterministic_xla_flags(flags):
  """XLA_FLAGS's value with DETERMINISTIC_XLA_FLAG added, unless the user
  set that flag (either way) already."""
  if 'xla_gpu_deterministic_ops' in flags:
    return flags
  return f'{flags} {DETERMINISTIC_XLA_FLAG}'.strip()


def _backend_started():
  try:  # JAX has no public way to ask this.
    from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
    return xla_bridge.backends_are_initialized()
  except (ImportError, AttributeError):
    return False


def compilation_cache_dir(field, environ=None):
  """The persistent compilation cache's folder for the config field, or
  None (off).

  'auto' (the default): JAX_COMPILATION_CACHE_DIR if set, else
  $XDG_CACHE_HOME/lstsaug_jax/xla or ~/.cache/lstsaug_jax/xla; 'off' or
  '': none; anything else: that folder.
  """
  environ = os.environ if environ is None else environ
  if field in ('', 'off'):
    return None
  if field != 'auto':
    return os.path.abspath(os.path.expanduser(field))
  if environ.get('JAX_COMPILATION_CACHE_DIR'):
    return os.path.abspath(environ['JAX_COMPILATION_CACHE_DIR'])
  base = environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'lstsaug_jax', 'xla')


def run(fn, *args):
  """Runs fn, printing the project's errors as `error: ...` (exit code 1)."""
  try:
    return fn(*args)
  except USER_ERRORS as e:
    raise SystemExit(f'error: {e}') from None
