import atexit
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def find_archive():
  """The folder holding UCRArchive_2018/ (and Multivariate_ts/) for the
  tests that read real archive files: $LSTSAUG_TEST_DATA, else
  ../shared/data beside the clone; None if neither has it."""
  for path in (os.environ.get('LSTSAUG_TEST_DATA'),
               os.path.join(ROOT, '..', 'shared', 'data')):
    if path and os.path.isdir(os.path.join(path, 'UCRArchive_2018')):
      return os.path.abspath(path)
  return None


SHARED_DATA = find_archive()
# Published accuracies (anchors) beside the archive: ../shared/reference.
REFERENCE = (os.path.join(os.path.dirname(SHARED_DATA), 'reference')
             if SHARED_DATA else None)
# A subprocess that starts Python and JAX and stops at an error or a tiny
# run: seconds unloaded, but JAX's import alone can take a minute on a
# loaded 2-core machine; the limit only catches a hang.
STARTUP_TIMEOUT = 300
MISSING_ARCHIVE = (
    'needs the UCR/UEA archive files: set LSTSAUG_TEST_DATA to the folder '
    'holding UCRArchive_2018/ and Multivariate_ts/, or put it at '
    '../shared/data (README "Tests")')


def require_archive():
  """The archive folder; skips the test without it, except under CI=true,
  where missing data is a failure."""
  if SHARED_DATA is None:
    if os.environ.get('CI', '').lower() == 'true':
      pytest.fail('CI=true but ' + MISSING_ARCHIVE)
    pytest.skip(MISSING_ARCHIVE)
  return SHARED_DATA


@pytest.fixture
def shared_data():
  return require_archive()

# One persistent compilation cache for the session, in a temporary folder:
# many tests (and their subprocesses) compile the same tiny programs.
# Made by the first process only (pytest-xdist's workers inherit it through
# the environment, so they share it and leave its removal to that process).
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _JAX_CACHE = tempfile.mkdtemp(prefix='lstsaug-tests-jax-cache-')
  atexit.register(shutil.rmtree, _JAX_CACHE, ignore_errors=True)
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _JAX_CACHE
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')

# Every tool's cache, config and log folder (matplotlib's font cache,
# wandb's logs and settings, XDG caches) in a temporary folder of the
# session, so the tests write nothing under the user's home.
TOOL_DIRS = ('MPLCONFIGDIR', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME',
             'XDG_DATA_HOME', 'WANDB_DIR', 'WANDB_CACHE_DIR',
             'WANDB_CONFIG_DIR', 'WANDB_DATA_DIR', 'WANDB_ARTIFACT_DIR')
if 'LSTSAUG_TEST_HOME' not in os.environ:
  _TOOL_HOME = tempfile.mkdtemp(prefix='lstsaug-tests-home-')
  atexit.register(shutil.rmtree, _TOOL_HOME, ignore_errors=True)
  os.environ['LSTSAUG_TEST_HOME'] = _TOOL_HOME
  for _var in TOOL_DIRS:
    os.environ[_var] = os.path.join(_TOOL_HOME, _var.lower())
    os.makedirs(os.environ[_var], exist_ok=True)


def bare_env(**extra):
  """A minimal environment for a subprocess that must not inherit the
  user's settings (XLA flags, Python paths): PATH, JAX's variables and the
  session's tool folders (with HOME there too), so that it, like the
  tests, writes nothing under the user's home."""
  env = {'PATH': '/usr/bin:/bin',
         'HOME': os.environ.get('LSTSAUG_TEST_HOME', os.path.expanduser('~')),
         **{k: v for k, v in os.environ.items() if k.startswith('JAX_')},
         **{k: os.environ[k] for k in TOOL_DIRS if k in os.environ}}
  env.update(extra)
  return env

# The command lines add XLA's GPU determinism flag to XLA_FLAGS
# (config.deterministic), and XLA_FLAGS is part of JAX's cache key: the
# whole session runs with it, so that in-process tests and the command
# lines their subprocesses run share compiled programs. USER_XLA_FLAGS:
# what the user had, for the tests of that flag.
from lstsaug_jax import cli as _cli  # pylint: disable=g-import-not-at-top
USER_XLA_FLAGS = os.environ.get('XLA_FLAGS', '')
os.environ['XLA_FLAGS'] = _cli.deterministic_xla_flags(USER_XLA_FLAGS)


@pytest.fixture
def tiny_config(tmp_path):
  """configs/tiny.py (generated CBF data: no files needed), writing under
  tmp_path."""
  from configs import tiny  # pylint: disable=g-import-not-at-top
  # With the sweep's fields, so a test can sweep it too.
  config = tiny.get_config('sweep')
  config.data_dir = str(tmp_path / 'data')
  config.results_dir = str(tmp_path / 'results')
  config.model_dir = str(tmp_path / 'checkpoints')
  return config


def results_row(**fields):
  """A complete, valid results-CSV row; `fields` override the defaults."""
  from lstsaug_jax import specs  # pylint: disable=g-import-not-at-top
  from lstsaug_jax.experiments import results  # pylint: disable=g-import-not-at-top
  row = {c: '' for c in results.COLUMNS}
  row.update(dataset='GunPoint', method='baseline', settings='', seed=42,
             accuracy=0.5, weighted_f1=0.5, evaluated_on='test',
             train_size=20, eval_size=10, epochs=2, steps=6,
             selected_epoch=2, model_selection='final', batch_size=8,
             arch='resnet_tiny', wall_time_s=1.0, program_seeds=1,
             config_hash='h1', version='0')
  spec = fields.pop('spec', None)
  if spec:  # a method spec such as 'latent(noise=0.5)'
    aug = specs.make_augmentation(spec)
    row.update(method=aug.name, settings=aug.key)
  row.update(fields)
  assert set(row) == set(results.COLUMNS)
  return row


def write_pair(root, name, train, test, ext='.tsv', flat=False, mode='w'):
  """Writes {name}_TRAIN and _TEST files in the archive's layout (or flat)
  under root; returns root as a string."""
  folder = (os.path.join(root, name) if flat
            else os.path.join(root, 'UCRArchive_2018', name))
  os.makedirs(folder, exist_ok=True)
  for split, content in (('TRAIN', train), ('TEST', test)):
    with open(os.path.join(folder, f'{name}_{split}{ext}'),
              'wb' if isinstance(content, bytes) else mode) as f:
      f.write(content)
  return str(root)
