"""Bad inputs and faults, as a careful user meets them: data files, configs,
checkpoints, outputs, results CSVs and sweeps.

Each case asserts a clear error (its message names the file, line, field or
row, and the fix) or the documented policy, and that nothing the user had
is lost or left half-written.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lstsaug_jax import auto
from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import ownership
from lstsaug_jax import pipeline
from lstsaug_jax import reporting
from lstsaug_jax import stages
from lstsaug_jax.errors import CheckpointError
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import DataError
from lstsaug_jax.errors import LstsaugError
from lstsaug_jax.errors import OutputError
from lstsaug_jax.errors import ResultsError
from lstsaug_jax.errors import TrainingError
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import runner
from lstsaug_jax.experiments import summarize
from tests.conftest import ROOT
from tests.conftest import STARTUP_TIMEOUT
from tests.conftest import results_row
from tests.conftest import write_pair

GOOD_TRAIN = '1\t0.1\t0.5\t0.9\n2\t0.9\t0.5\t0.1\n1\t0.2\t0.6\t0.8\n'
GOOD_TEST = '1\t0.1\t0.5\t0.9\n2\t0.9\t0.5\t0.1\n'
TS_HEADER = ('@problemName B\n@timeStamps false\n@missing true\n'
             '@univariate true\n@equalLength true\n@classLabel true a b\n'
             '@data\n')


def listing(root):
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, names in os.walk(root) for f in names)


# --- Data files --------------------------------------------------------------

# (train file content, extension, expected message): each an error naming the
# file and, where there is one, the line.
BAD_FILES = [
    ('1\t0.1\tinf\t0.9\n2\t1\t2\t3\n', '.tsv',
     r"line 1, column 3: 'inf' is infinite"),
    ('1,0.1,0.2,0.3\n2,-Infinity,2,3\n', '.csv',
     r"line 2, column 2: '-Infinity' is infinite"),
    (TS_HEADER + '1,2,3:a\n4,Infinity,6:b\n', '.ts',
     r"line 9, column 2: 'Infinity' is infinite"),
    ('NaN\t0.1\t0.2\t0.3\n2\t1\t2\t3\n', '.tsv',
     r"line 1: the class label is missing \('NaN'\)"),
    ('1,0.1,0.2,0.3\n,1,2,3\n', '.csv',
     r"line 2: the class label is missing \(''\)"),
    (TS_HEADER.replace('true a b', 'true a b ?') + '1,2,3:a\n4,5,6:?\n',
     '.ts', r"line 9: the class label is missing \('\?'\)"),
    ('1\t0.1\t0.2\t0.3\n2\t1\t2\n1\t3\t2\t1\n', '.tsv',
     r'line 2: 2 values, but line 1 has 3 \(rows of different lengths'),
    ('1\t0.1\t0.2\n2\t1\t2\t3\t4\n', '.tsv', 'rows of different lengths'),
    ('1\t0.5\n2\t0.7\n', '.tsv',
     r'line 1: the series has 1 value; a series needs at least 2'),
    ('1\n2\n', '.tsv', 'has a single column'),
    ('1,0.1,1+2j,0.3\n2,1,2,3\n', '.csv',
     r"line 1, column 3: '1\+2j' is not a number.*Complex values"),
    (TS_HEADER + '1,2,3:a\n4,5:b\n', '.ts',
     r'line 9: 2 values, but the header says @equalLength true and line 8 '
     'has 3'),
    (TS_HEADER.replace('@classLabel true a b\n', '') + '1,2,3:a\n', '.ts',
     'has no class labels'),
    ('', '.tsv', 'is empty'),
    ('1\t0.5\t1\n1\t1\t2\n', '.tsv', 'one class only'),
    ('1\tNaN\tNaN\n2\t1\t2\n', '.tsv', 'line 1: the series has no values'),
    (b'1\t0.1\t0.2\n2\t0.5\t0.6\n\xe9t\xe9\t1\t2\n', '.tsv',
     r'line 3: byte 0xe9 is not UTF-8 text'),
]


@pytest.mark.parametrize('content, ext, expected', BAD_FILES)
def test_bad_data_files_are_named_errors(tmp_path, content, ext, expected):
  test = GOOD_TEST if ext != '.ts' else TS_HEADER + '1,2,3:a\n3,2,1:b\n'
  if ext == '.csv':
    test = test.replace('\t', ',')
  root = write_pair(tmp_path, 'B', content, test, ext=ext)
  before = {p: open(os.path.join(root, p), 'rb').read()
            for p in listing(root)}
  with pytest.raises(DataError, match=expected) as e:
    data.load_dataset(root, 'B')
  assert f'B_TRAIN{ext}' in str(e.value)
  # Reading never changes the user's files.
  assert {p: open(os.path.join(root, p), 'rb').read()
          for p in listing(root)} == before


def test_a_directory_where_a_split_file_should_be(tmp_path):
  root = write_pair(tmp_path, 'B', GOOD_TRAIN, GOOD_TEST)
  test_path = os.path.join(root, 'UCRArchive_2018', 'B', 'B_TEST.tsv')
  os.remove(test_path)
  os.mkdir(test_path)
  with pytest.raises(DataError, match='B_TEST.tsv is a directory'):
    data.load_dataset(root, 'B')


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
  root = write_pair(tmp_path, 'B', GOOD_TRAIN, GOOD_TEST)
  real_open = open
  def deny(path, *args, **kwargs):
    if str(path).endswith('B_TRAIN.tsv'):
      raise PermissionError(13, 'Permission denied')
    return real_open(path, *args, **kwargs)
  # Tests may run as root, which chmod cannot lock out.
  monkeypatch.setattr('lstsaug_jax.formats.open', deny, raising=False)
  with pytest.raises(DataError, match=r'B_TRAIN.tsv cannot be read: '
                     'permission denied'):
    data.load_dataset(root, 'B')


def npz_bytes(**arrays):
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  return buffer.getvalue()


GOOD_ARRAYS = dict(X_train=np.arange(12.0).reshape(3, 4) % 5,
                   y_train=np.array([1, 2, 1]),
                   X_test=np.arange(8.0).reshape(2, 4) % 3,
                   y_test=np.array([2, 1]))


@pytest.mark.parametrize('content, expected', [
    (b'PK\x03\x04 this is not really a zip', 'is not a readable .npz file'),
    (npz_bytes(**GOOD_ARRAYS)[:300], 'is not a readable .npz file'),
    (npz_bytes(**dict(GOOD_ARRAYS, X_train=GOOD_ARRAYS['X_train'] * 1j)),
     'X_train holds complex values'),
    (npz_bytes(**dict(GOOD_ARRAYS, X_train=np.where(
        GOOD_ARRAYS['X_train'] > 3, np.inf, 0.0))),
     r'X_train\[1, 0, 0\] is inf'),
    (npz_bytes(**dict(GOOD_ARRAYS, y_train=np.array([1.0, np.nan, 2.0]))),
     r'y_train\[1\]: the class label is missing'),
    (npz_bytes(**dict(GOOD_ARRAYS, y_train=np.array([1, 2]))),
     r'X_train has shape \(3, 4\) and y_train \(2,\)'),
    (npz_bytes(**dict(GOOD_ARRAYS, X_test=np.zeros((2, 2, 2, 4)))),
     'X_test has shape'),
    (npz_bytes(**dict(GOOD_ARRAYS, X_train=np.array([['a'] * 4] * 3)))
     , 'X_train is not numeric'),
    (npz_bytes(X_train=GOOD_ARRAYS['X_train']), r"lacks the arrays \['y_train'"),
])
def test_bad_npz_files_are_named_errors(tmp_path, content, expected):
  path = tmp_path / 'N.npz'
  path.write_bytes(content)
  with pytest.raises(DataError, match=expected) as e:
    data.load_dataset(str(tmp_path), 'N')
  assert 'N.npz' in str(e.value)
  assert path.read_bytes() == content


def test_long_integer_labels_stay_distinct_classes(tmp_path):
  # Read as float64 both would be 1.2345678901234568e+16: one class.
  root = write_pair(tmp_path, 'L', '12345678901234567\t1\t2\n'
                    '12345678901234568\t2\t1\n', '12345678901234568\t2\t1\n')
  d = data.load_dataset(root, 'L')
  assert d.class_names == ('12345678901234567', '12345678901234568')
  np.testing.assert_array_equal(d.y_test, [1])


@pytest.mark.parametrize('scale', [1e30, 1e38, 1e300])
def test_huge_finite_values_normalise_like_small_ones(tmp_path, scale):
  rows = '1\t1\t2\t4\n2\t4\t2\t1\n'
  root = write_pair(tmp_path, 'H', rows, rows)
  big = write_pair(tmp_path / 'big', 'H', ''.join(
      f'{r[0]}\t' + '\t'.join(repr(float(v) * scale)
                             for v in r[2:].split('\t')) + '\n'
      for r in rows.splitlines()), rows)
  small, large = data.load_dataset(root, 'H'), data.load_dataset(big, 'H')
  assert np.isfinite(large.x_train).all()
  np.testing.assert_allclose(large.x_train, small.x_train, rtol=1e-5,
                             atol=1e-6)


def test_values_beyond_float32_without_normalising(tmp_path):
  root = write_pair(tmp_path, 'H', '1\t1e39\t2\n2\t1\t2\n', GOOD_TEST)
  with pytest.raises(DataError, match=r'H_TRAIN.tsv, line 1: 1e\+39 is '
                     'beyond the float32 range'):
    data.load_dataset(root, 'H', data.Options(normalisation='none'))


# --- Configs -----------------------------------------------------------------


@pytest.mark.parametrize('field, value, expected', [
    ('num_epochs', 0, 'num_epochs=0 must be an integer >= 1'),
    ('classifier.num_epochs', -1, 'classifier.num_epochs=-1 must be unset or'),
    ('classifier.batch_size', 0, 'classifier.batch_size=0'),
    ('batch_size', 0, 'batch_size=0 must be an integer >= 1'),
    ('vae.hidden_dims', (32, 0), r'vae.hidden_dims=\(32, 0\) must be a '
     'non-empty tuple of integers'),
    ('vae.hidden_dims', ('abc',), r"vae.hidden_dims=\('abc',\)"),
    ('noise', float('nan'), 'noise=nan must be a number >= 0'),
    ('noise', float('inf'), 'noise=inf must be a number >= 0'),
    ('learning_rate', float('nan'), 'learning_rate=nan must be a number > 0'),
    ('classifier.learning_rate', 0.0, 'classifier.learning_rate=0.0'),
    ('classifier.max_batch_fraction', 1.5, 'max_batch_fraction=1.5'),
    ('vae.plateau_factor', 0.0, r'vae.plateau_factor=0.0 must be a number '
     r'in \(0, 1\]'),
    ('classifier.plateau_patience', 0, 'classifier.plateau_patience=0'),
    ('classifier.min_learning_rate', 1.0, 'must not exceed classifier'),
    ('seed', -1, 'seed=-1 must be an integer in'),
    ('dataset', '', "dataset='' must be a non-empty string"),
    ('validation_fraction', 1.0, 'validation_fraction=1.0'),
    ('download_timeout', float('inf'), 'download_timeout=inf'),
    ('eval_every', -2, 'eval_every=-2'),
    ('num_samples', 0, 'num_samples=0'),
])
def test_bad_config_fields_stop_the_run_before_any_work(tiny_config, tmp_path,
                                                        monkeypatch, field,
                                                        value, expected):
  *parents, leaf = field.split('.')
  target = tiny_config
  for p in parents:
    target = target[p]
  target[leaf] = value
  monkeypatch.setattr(data, 'load', lambda *a: pytest.fail('data was read'))
  with pytest.raises(ConfigError, match=expected):
    pipeline.run(tiny_config)
  assert not os.path.exists(tiny_config.results_dir)
  assert not os.path.exists(tiny_config.model_dir)


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'lstsaug_jax.main', *args],
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=STARTUP_TIMEOUT,
                        env=dict(os.environ, PYTHONPATH=ROOT,
                                 JAX_PLATFORMS='cpu'))


@pytest.mark.parametrize('args, expected', [
    (['--config=configs/tiny.py', '--config.num_epoch=3'],
     "unknown config field 'num_epoch' in --config.num_epoch=3. Did you mean "
     "'num_epochs'?"),
    (['--config=configs/nope.py'], 'could not load the config file'),
    (['--config=configs/tiny.py', '--config.num_epochs=abc'],
     "--config.num_epochs=abc: invalid literal for int"),
    (['--config=configs/tiny.py', '--config.noise=nan'],
     'Invalid config: noise=nan must be a number >= 0'),
])
def test_command_line_config_errors_are_one_paragraph(args, expected,
                                                      tmp_path):
  proc = run_cli(*args, f'--config.results_dir={tmp_path}/r',
                 f'--config.model_dir={tmp_path}/m')
  assert proc.returncode != 0
  assert expected in proc.stderr, proc.stderr
  assert 'Traceback' not in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  assert not os.listdir(tmp_path)


def test_a_config_file_with_a_syntax_error(tmp_path):
  bad = tmp_path / 'bad.py'
  bad.write_text('def get_config(:\n')
  proc = run_cli(f'--config={bad}')
  assert proc.returncode != 0
  assert 'bad.py is not valid Python (line 1' in proc.stderr
  assert 'Traceback' not in proc.stderr


# --- Checkpoints and outputs -------------------------------------------------


def no_training(monkeypatch):
  def trained(*args, **kwargs):
    raise AssertionError('training started')
  monkeypatch.setattr(stages, 'train_vae', trained)


@pytest.mark.parametrize('kind', ['directory', 'file'])
def test_checkpoint_path_that_is_not_ours_stops_before_training(
    tiny_config, tmp_path, monkeypatch, kind):
  target = tmp_path / 'mine'
  if kind == 'directory':
    target.mkdir()
    (target / 'data.csv').write_text('precious')
  else:
    target.write_text('precious')
  tiny_config.checkpoint_path = str(target)
  no_training(monkeypatch)
  with pytest.raises(CheckpointError, match='nothing there was moved'):
    pipeline.run(tiny_config)
  assert (target / 'data.csv' if kind == 'directory' else target
          ).read_text() == 'precious'
  assert sorted(os.listdir(tmp_path)) == ['mine']


@pytest.mark.parametrize('field', ['results_dir', 'model_dir'])
def test_output_folders_under_a_file_stop_before_training(
    tiny_config, tmp_path, monkeypatch, field):
  (tmp_path / 'a_file').write_text('x')
  tiny_config[field] = str(tmp_path / 'a_file' / 'sub')
  no_training(monkeypatch)
  with pytest.raises((OutputError, CheckpointError),
                     match=r'a_file is a file'):
    pipeline.run(tiny_config)
  assert os.listdir(tmp_path) == ['a_file']


def test_a_failed_restore_leaves_no_run_directory(tiny_config):
  tiny_config.num_epochs = 1
  results_dir = tiny_config.results_dir
  pipeline.run(tiny_config)  # trains and saves a VAE
  path = checkpoint.checkpoint_path(tiny_config)
  with open(os.path.join(path, checkpoint.METADATA)) as f:
    name = sorted(json.load(f)['files'])[0]
  with open(os.path.join(path, name), 'ab') as f:
    f.write(b'garbage')
  runs = listing(results_dir)
  tiny_config.use_trained = True
  tiny_config.test_augment = True
  with pytest.raises(CheckpointError, match=f'is damaged: {name}'):
    pipeline.run(tiny_config)
  assert listing(results_dir) == runs
  # Another dataset's checkpoint, by explicit path: same shape and classes.
  rng = np.random.default_rng(0)
  rows = ''.join(f'{c}\t' + '\t'.join(f'{v:.3f}' for v in rng.normal(
      size=128)) + '\n' for c in ('bell', 'cylinder', 'funnel') * 2)
  write_pair(tiny_config.data_dir, 'Other', rows, rows)
  tiny_config.checkpoint_path = path
  tiny_config.dataset = 'Other'
  with pytest.raises(CheckpointError,
                     match="dataset: checkpoint has 'synthetic:cbf', this run "
                     "'Other'"):
    pipeline.run(tiny_config)
  assert listing(results_dir) == runs


def test_a_diverging_vae_is_never_saved_or_reported(tiny_config):
  tiny_config.learning_rate = 1e30
  tiny_config.test_augment = True
  with pytest.raises(TrainingError) as e:
    pipeline.run(tiny_config)
  message = str(e.value)
  assert 'VAE: the training loss became nan at epoch 1 (seed 42)' in message
  assert 'Not written: results.json' in message
  assert not os.path.exists(tiny_config.model_dir)
  (run_dir,) = [os.path.join(d, r) for d in [os.path.join(
      tiny_config.results_dir, 'synthetic_cbf')] for r in os.listdir(d)]
  assert not os.path.exists(os.path.join(run_dir, 'results.json'))


def test_a_full_disk_leaves_whole_records_and_says_what_was_written(
    tiny_config, monkeypatch):
  real_write = os.write
  def full_disk(fd, payload):
    if payload.startswith(b'{"stage": "baseline"'):
      real_write(fd, payload[:len(payload) // 2])
      raise OSError(28, 'No space left on device')
    return real_write(fd, payload)
  monkeypatch.setattr(reporting.os, 'write', full_disk)
  tiny_config.baseline = True
  tiny_config.test_augment = True  # the VAE trains first
  with pytest.raises(OutputError) as e:
    pipeline.run(tiny_config)
  message = str(e.value)
  assert 'No space left on device' in message
  assert 'stage baseline epoch 1' in message
  assert 'metrics.jsonl (2 whole records)' in message  # the VAE's 2 epochs
  assert 'the VAE checkpoint' in message and 'Not written: results.json' in (
      message)
  (run,) = os.listdir(os.path.join(tiny_config.results_dir, 'synthetic_cbf'))
  run_dir = os.path.join(tiny_config.results_dir, 'synthetic_cbf', run)
  with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]  # every line whole
  assert [r['stage'] for r in records] == ['vae', 'vae']
  assert not os.path.exists(os.path.join(run_dir, 'results.json'))


# --- Results CSVs and sweeps -------------------------------------------------


def write_rows(path, rows):
  results.ResultsFile(path).append(rows)
  return str(path)


def test_a_second_sweep_on_a_locked_csv_is_refused(tiny_config, tmp_path):
  csv = str(tmp_path / 's.csv')
  write_rows(csv, [results_row()])
  before = open(csv).read()
  tiny_config.sweep.results_csv = csv
  with results.Lock(os.path.abspath(csv)):  # another sweep is running
    with pytest.raises(ResultsError, match=rf'being written by another '
                       rf'sweep \(pid {os.getpid()} on host'):
      runner.run_sweep(tiny_config)
  assert open(csv).read() == before
  assert not os.path.exists(csv + '.lock')  # released


def test_duplicated_rows_are_refused_by_resume_and_summary(tmp_path):
  csv = write_rows(tmp_path / 'd.csv', [results_row(seed=1),
                                        results_row(seed=2)])
  with open(csv, 'a') as f:
    f.write(open(csv).read().splitlines()[1] + '\n')  # seed 1 again
  with pytest.raises(ResultsError, match=r'lines 2 and 4: the same run twice'):
    results.ResultsFile(csv)
  with pytest.raises(ResultsError, match=r'lines 2 and 4: the same run twice'):
    summarize.write_summary(csv, str(tmp_path / 'out'))
  assert not os.path.exists(tmp_path / 'out')


@pytest.mark.parametrize('field, value, expected', [
    ('accuracy', 'abc', "line 2, column accuracy: 'abc' is not a number"),
    ('accuracy', '1.5', r"column accuracy: '1.5' is not a number in \[0, 1\]"),
    ('weighted_f1', 'nan', 'column weighted_f1'),
    ('method', 'magic', "column method: 'magic' is not a method"),
    ('seed', '4.5', "column seed: '4.5' is not an integer"),
])
def test_garbled_results_cells_are_named(tmp_path, field, value, expected):
  csv = str(tmp_path / 'g.csv')
  write_rows(csv, [results_row(**{field: value})])
  with pytest.raises(ResultsError, match=expected):
    summarize.write_summary(csv, str(tmp_path / 'out'))


def test_summary_of_a_missing_csv(tmp_path):
  with pytest.raises(ResultsError, match='nope.csv does not exist'):
    summarize.write_summary(str(tmp_path / 'nope.csv'))


@pytest.mark.parametrize('anchors, expected', [
    ('dataset,resnet_fawaz2019_mean5\nGunPoint,high\n',
     "line 2, column resnet_fawaz2019_mean5: 'high' is not an accuracy"),
    ('dataset,resnet_fawaz2019_mean5\nGunPoint,0.9\nGunPoint,0.8\n',
     r"dataset 'GunPoint' has more than one row \(lines 2, 3\)"),
    ('dataset,resnet_fawaz2019_mean5\nCoffee,0.9\n',
     'has none of the datasets of the results'),
    ('name,accuracy\nGunPoint,0.9\n', 'has no "dataset" column'),
])
def test_bad_anchors_are_named(tmp_path, anchors, expected):
  csv = write_rows(tmp_path / 'a.csv', [results_row(),
                                        results_row(spec='latent')])
  (tmp_path / 'anchors.csv').write_text(anchors)
  with pytest.raises(ResultsError, match=expected):
    summarize.write_summary(csv, str(tmp_path / 'out'),
                            anchors=str(tmp_path / 'anchors.csv'))


def test_a_missing_anchors_file_stops_the_sweep_before_training(
    tiny_config, tmp_path, monkeypatch):
  tiny_config.sweep.results_csv = str(tmp_path / 's.csv')
  tiny_config.sweep.anchors = str(tmp_path / 'nope.csv')
  no_training(monkeypatch)
  with pytest.raises(ResultsError, match='The anchors file .*nope.csv does '
                     'not exist'):
    runner.run_sweep(tiny_config)
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('augmentations, expected', [
    (((1e999, 1),), r'sweep.augmentations=\(\(inf, 1\),\) must be finite'),
    (((0.1, 0),), r'num_samples=0 must be a whole number >= 1'),
    ((0.1, 1), '0.1 is not a method spec'),
    (('latent(noise=nan)',), "noise='nan' must be of the type"),
    (('auto(folds=1)',), 'folds=1 must be an integer >= 2'),
    (("auto(candidates=('magic',))",), "Unknown augmentation method 'magic'"),
])
def test_bad_sweep_settings_are_named(tiny_config, tmp_path, augmentations,
                                      expected):
  tiny_config.sweep.results_csv = str(tmp_path / 's.csv')
  tiny_config.sweep.augmentations = augmentations
  with pytest.raises(ConfigError, match=expected):
    runner.run_sweep(tiny_config)
  assert not os.listdir(tmp_path)


# --- Never touch what is not ours --------------------------------------------


def test_a_folder_that_looks_like_a_checkpoint_survives_a_run(
    tiny_config, tmp_path, monkeypatch):
  fake = tmp_path / 'looks_like_one'
  (fake / 'params').mkdir(parents=True)
  (fake / 'metadata.json').write_text('{"format_version": 3}')
  (fake / 'NOTES.txt').write_text('my notes')
  tiny_config.checkpoint_path = str(fake)
  no_training(monkeypatch)
  with pytest.raises(CheckpointError, match='nothing there was moved'):
    pipeline.run(tiny_config)
  assert (fake / 'NOTES.txt').read_text() == 'my notes'


def plant_link(path, target):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  os.symlink(target, path)


def test_links_planted_at_our_temporary_and_lock_names_are_never_followed(
    tiny_config, tmp_path):
  """A link at each predictable name the project writes to, pointing at
  another user's file: the file is never written, truncated or removed."""
  victim = tmp_path / 'victim.txt'
  victim.write_text('another user\'s file')
  shared = tmp_path / 'shared'
  # lsa.export's temporary file (once a fixed NAME_TRAIN.tsv.tmp), beside
  # the file export writes (DIR/NAME/NAME_TRAIN.tsv).
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  written = lsa.export(str(shared), np.zeros((2, 4)) + [[0], [1]],
                       ['a', 'b'], 'X')
  plant_link(written + '.tmp', str(victim))
  lsa.export(str(shared), np.zeros((2, 4)) + [[1], [0]], ['b', 'a'], 'X')
  assert not os.path.islink(written)
  # The results CSV's lock.
  csv = str(shared / 'sweep.csv')
  plant_link(csv + '.lock', str(victim))
  tiny_config.sweep.results_csv = csv
  with pytest.raises(OutputError, match='is a symbolic link'):
    runner.run_sweep(tiny_config)
  # A VAE checkpoint's lock.
  tiny_config.checkpoint_path = str(shared / 'ckpt')
  plant_link(str(shared / '.ckpt.lock'), str(victim))
  with pytest.raises(OutputError, match='is a symbolic link'):
    pipeline.run(tiny_config)
  # A sweep's per-dataset metrics log (a name known in advance).
  log = shared / 'runs' / 'metrics.jsonl'
  plant_link(str(log), str(victim))
  with pytest.raises(OutputError, match='is a symbolic link'):
    reporting.MetricsLogger(str(shared / 'runs'))
  # A summary's files: the link is replaced, not written through.
  rows = write_rows(tmp_path / 'r.csv', [results_row()])
  plant_link(str(shared / 'out' / 'summary.md'), str(victim))
  summarize.write_summary(rows, str(shared / 'out'))
  assert not os.path.islink(shared / 'out' / 'summary.md')
  assert victim.read_text() == 'another user\'s file'


def test_a_lock_name_holding_someone_elses_file_is_left_alone(tmp_path):
  csv = str(tmp_path / 'sweep.csv')
  with open(csv + '.lock', 'w') as f:
    f.write('not a lock: my own notes')
  with pytest.raises(OutputError, match='holds something else'):
    results.Lock(csv).acquire()
  assert open(csv + '.lock').read() == 'not a lock: my own notes'


@pytest.mark.parametrize('method, settings, expected', [
    ('latent', dict(noise=float('nan')), 'noise=nan must be a finite number'),
    ('mixup', dict(alpha=0.0), r'alpha=0.0 must be > 0'),
    ('latent_class', dict(alpha=-1.0), r'alpha=-1.0 must be a finite number'),
    ('jitter(sigma=0.1)', dict(sigma=0.2), 'sigma given both in the spec'),
    ('jitter(mode=online)', {}, 'mode apply to training a classifier'),
    ('jitter', dict(share=0.5), 'share apply to training'),
    ('jitter(sigma=1e300)', {}, r'sigma=1e\+300 must be at most 3.403e\+38'),
    ('jitter(sigma=3e38)', {}, '6 of 6 synthetic series hold NaN or '
     'infinite values'),
])
def test_generate_refuses_what_the_command_line_refuses(method, settings,
                                                         expected):
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)
  y = np.array(['a', 'b'] * 3)
  vae = None
  if method.startswith('latent'):
    vae = lsa.fit_vae(x, y, seed=0, num_epochs=1, latent_dim=2,
                      progress=False, **{'vae.hidden_dims': (8,)})
  with pytest.raises(LstsaugError, match=expected):
    lsa.generate(vae, x, y, 0, method=method, **settings)


def test_generate_takes_a_spec_as_the_command_line_does():
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)
  y = np.array(['a', 'b'] * 3)
  spec, _ = lsa.generate(None, x, y, 3, method='jitter(sigma=0.01)')
  keywords, _ = lsa.generate(None, x, y, 3, method='jitter', sigma=0.01)
  np.testing.assert_array_equal(spec, keywords)
  assert 0 < np.abs(spec - x).max() < 0.1


def test_a_non_finite_synthetic_set_is_never_trained_on(tiny_config):
  tiny_config.test_augment = True
  tiny_config.augment.method = 'jitter(sigma=3e38)'
  with pytest.raises(LstsaugError, match='hold NaN or infinite values'):
    pipeline.run(tiny_config)


@pytest.mark.parametrize('labels', [
    np.array(['up', 'down'] * 3), np.array([7, -3] * 3),
    np.array([0.5, 2.25] * 3), np.array([True, False] * 3),
    np.array([b'a', b'b\xff'] * 3), [1, 2.5] * 3])
def test_labels_of_every_kind_survive_a_save(tmp_path, labels):
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)
  vae = lsa.fit_vae(x, labels, seed=0, num_epochs=1, latent_dim=2,
                    progress=False, **{'vae.hidden_dims': (8,)})
  loaded = lsa.load_vae(vae.save(str(tmp_path / 'vae')))
  assert loaded.classes.dtype == vae.classes.dtype
  assert loaded.classes.tolist() == vae.classes.tolist()
  assert [type(c) for c in loaded.classes.tolist()] == [
      type(c) for c in vae.classes.tolist()]
  _, y_new = lsa.generate(loaded, x, labels, 0, method='latent')
  assert sorted(set(y_new.tolist()), key=repr) == sorted(
      set(np.asarray(labels).tolist()), key=repr)


def test_all_constant_series_are_refused_and_some_are_a_warning(
    tmp_path, caplog):
  flat = '1\t2\t2\t2\n2\t5\t5\t5\n'
  root = write_pair(tmp_path, 'C', flat, flat)
  with pytest.raises(DataError, match='all 2 series are constant'):
    data.load_dataset(root, 'C')
  root = write_pair(tmp_path / 'some', 'C', flat + '1\t1\t2\t3\n', flat +
                    '2\t3\t2\t1\n')
  with caplog.at_level('WARNING'):
    d = data.load_dataset(root, 'C')
  assert '2 of 3 series are constant' in caplog.text
  assert d.provenance['constant'] == dict(train=2, test=2)


def test_no_r2_is_reported_for_series_without_variation():
  from lstsaug_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from lstsaug_jax import diagnostics  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  x = np.zeros((4, 1, 8), np.float32)
  y = np.array([0, 1, 0, 1], np.int32)
  vae = checkpoint.build_vae(dict(series_length=8, num_classes=2,
                                  latent_dim=2, **{'vae.hidden_dims': [4],
                                                   'vae.output_activation':
                                                   'linear'}))
  params = jax.vmap(lambda k: vae.init(k, x[:1], k)['params'])(
      jax.random.split(jax.random.PRNGKey(0), 1))
  (q,) = diagnostics.vae_quality(vae, params, x, y, x + 1.0, y)
  assert q['r2_train'] is None and q['r2_test'] is None
  assert q['head_accuracy_train'] == q['head_accuracy_test']


# --- Refused before any work, or one paragraph -------------------------------


def readme_specs():
  """Every method spec in the README's and the guides' text: a method name
  with settings in brackets inside backticks. docs/reliability.md is left
  out: its specs are the refused ones, and a test there refuses them."""
  import glob  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  from lstsaug_jax import augment  # pylint: disable=g-import-not-at-top
  text = ''
  for path in [os.path.join(ROOT, 'README.md')] + sorted(
      glob.glob(os.path.join(ROOT, 'docs', '*.md'))):
    if path.endswith('reliability.md'):
      continue
    with open(path) as f:
      text += f.read()
  names = '|'.join(sorted(list(augment.METHODS) + ['auto'], key=len,
                          reverse=True))
  found = set(m.group(1) for m in re.finditer(
      rf'`[^`]*?\b((?:{names})\([^`]*?\))[^`]*`', text))
  # Settings are key=value; `mixup(key, x, y)` is a function's signature.
  return sorted(s for s in found if all('=' in part for part in re.split(
      r',(?![^(]*\))', s[s.index('(') + 1:-1])))


def test_every_spec_the_readme_shows_parses_and_a_single_run_takes_it():
  specs = readme_specs()
  assert len(specs) >= 5 and 'latent(noise=0.5, mode=online)' in specs
  for spec in specs:
    # As a single run takes it: 'latent' with the config's noise and
    # num_samples as defaults its own settings override.
    auto.parse_method(spec, dict(noise=0.1, num_samples=1))
    auto.parse_method(spec)


@pytest.mark.parametrize('field, value, expected', [
    ('num_samples', 10**9, 'would need about .* of memory'),
    ('synthetic_test_size', 10**9, 'would need about .* of memory'),
    ('classifier.min_steps', 10**12, "past the step counter's limit"),
])
def test_runs_that_cannot_finish_are_refused_before_any_work(
    tiny_config, monkeypatch, field, value, expected):
  *parents, leaf = field.split('.')
  target = tiny_config
  for p in parents:
    target = target[p]
  target[leaf] = value
  tiny_config.test_augment = True
  no_training(monkeypatch)
  with pytest.raises(ConfigError, match=expected):
    pipeline.run(tiny_config)
  assert not os.path.exists(tiny_config.results_dir)
  assert not os.path.exists(tiny_config.model_dir)


def test_auto_on_one_series_per_class_says_the_folds_cannot_tell(
    tiny_config, tmp_path):
  rng = np.random.default_rng(0)
  rows = ''.join(f'{c}\t' + '\t'.join(f'{v:.3f}' for v in rng.normal(
      size=16)) + '\n' for c in ('a', 'b', 'c', 'd'))
  tiny_config.data_dir = write_pair(tmp_path, 'Pairs', rows, rows)
  tiny_config.dataset = 'Pairs'
  tiny_config.test_augment = True
  tiny_config.augment.method = "auto(candidates=('jitter',))"
  details = pipeline.run(tiny_config).results['details']
  assert details['chosen'] == 'none'
  assert 'a single training series' in details['not_estimated']


def test_a_filter_that_keeps_nothing_says_so_in_the_table(tiny_config):
  tiny_config.test_augment = True
  tiny_config.augment.method = 'latent_class(margin=1e9)'
  results_ = pipeline.run(tiny_config).results
  assert results_['synthetic_accepted'] == 0.0
  table = reporting.format_table(results_)
  assert '30 / 30 + 0 synthetic (0% of 30 draws kept)' in table


def test_missing_or_absent_config_files_are_one_paragraph(tmp_path):
  for args, expected in ((['--config=configs/nope.py'],
                          'could not load the config file'),
                         ([], '--config is required')):
    proc = subprocess.run([sys.executable, '-m', 'lstsaug_jax.main', *args],
                          cwd=tmp_path, capture_output=True, text=True,

                          timeout=STARTUP_TIMEOUT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2
    assert expected in proc.stderr and 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_repeated_overrides_keep_the_last_as_every_flag_does():
  from lstsaug_jax import cli  # pylint: disable=g-import-not-at-top
  argv = ['prog', '--config=c.py', '--config.sweep.datasets=A',
          '--config.num_epochs', '3', '--config.sweep.datasets=B',
          '--config.num_epochs', '4', '--other=1']
  assert cli.last_override_wins(argv) == [
      'prog', '--config=c.py', '--config.sweep.datasets=B',
      '--config.num_epochs', '4', '--other=1']


def test_the_api_s_errors_are_one_paragraph_for_its_callers(tmp_path):
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  with pytest.raises(CheckpointError) as e:
    lsa.load_vae(str(tmp_path / 'nope' / 'vae'))
  assert 'TrainedVAE.save' in str(e.value)
  assert '--config.use_trained' not in str(e.value)
  x = np.zeros((4, 8)) + np.arange(8)
  for key in (2**70, -1, 'abc', np.zeros(3, np.uint32)):
    with pytest.raises(ConfigError, match='key_or_seed=|seed='):
      lsa.generate(None, x, ['a', 'b'] * 2, key, method='jitter')
  for label in ('a b', 'a\tb', 'a:b', 'nan'):
    with pytest.raises(DataError, match='could not be read back'):
      lsa.export(str(tmp_path / 'e'), x, [label, 'c'] * 2, 'E')
  assert not os.path.exists(tmp_path / 'e' / 'E_TRAIN.tsv')


@pytest.mark.parametrize('content, expected', [
    (TS_HEADER.replace('@equalLength true', '@equalLength true\n'
                       '@seriesLength four') + '1,2,3:a\n4,5,6:b\n',
     "@seriesLength 'four', which is not a whole number"),
])
def test_a_bad_ts_header_value_is_named(tmp_path, content, expected):
  root = write_pair(tmp_path, 'T', content, content, ext='.ts')
  with pytest.raises(DataError, match=expected):
    data.load_dataset(root, 'T')


@pytest.mark.parametrize('write, expected', [
    (lambda p: np.save(p, np.zeros(3)), 'an .npy file named .npz'),
    (lambda p: np.savez(p, **dict(GOOD_ARRAYS, y_train=np.array(
        ['a', 1, 'b'], dtype=object))), 'stored with dtype object'),
])
def test_npz_mistakes_are_named(tmp_path, write, expected):
  path = str(tmp_path / 'N.npz')
  with open(path, 'wb') as f:
    write(f)
  with pytest.raises(DataError, match=expected):
    data.load_dataset(str(tmp_path), 'N')


def test_outputs_that_are_the_wrong_kind_of_thing(tiny_config, tmp_path):
  rows = write_rows(tmp_path / 'r.csv', [results_row()])
  (tmp_path / 'a_file').write_text('x')
  with pytest.raises(ResultsError, match='a_file is a file, but the summary'):
    summarize.write_summary(rows, str(tmp_path / 'a_file'))
  (tmp_path / 'folder.csv').mkdir()
  tiny_config.sweep.results_csv = str(tmp_path / 'folder.csv')
  with pytest.raises(ResultsError, match='is a folder; the results are one'):
    runner.run_sweep(tiny_config)


def test_a_full_disk_during_a_checkpoint_save_is_one_paragraph(
    tiny_config, monkeypatch):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  def full(*args, **kwargs):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(ocp.StandardCheckpointer, 'save', full)
  with pytest.raises(CheckpointError) as e:
    pipeline.run(tiny_config)
  assert 'No space left on device' in str(e.value)
  assert 'Nothing at' in str(e.value)
  assert not os.path.exists(tiny_config.model_dir) or not os.listdir(
      tiny_config.model_dir)


def test_two_runs_sharing_a_checkpoint_path_take_turns(tiny_config,
                                                       monkeypatch):
  tiny_config.checkpoint_path = os.path.join(tiny_config.model_dir, 'shared')
  no_training(monkeypatch)
  with ownership.locked(tiny_config.checkpoint_path):  # another run
    with pytest.raises(CheckpointError, match='being saved or read by another '
                       f'run \\(pid {os.getpid()}'):
      pipeline.run(tiny_config)


def test_the_data_command_runs_without_a_warning(tmp_path):
  root = write_pair(tmp_path, 'B', GOOD_TRAIN, GOOD_TEST)
  proc = subprocess.run(
      [sys.executable, '-W', 'error::RuntimeWarning', '-m', 'lstsaug_jax.data',
       f'--data_dir={root}', '--dataset=B'], cwd=ROOT, capture_output=True,
      text=True,
      timeout=STARTUP_TIMEOUT, env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 0, proc.stderr
  assert 'RuntimeWarning' not in proc.stderr
  assert 'train: 3 series' in proc.stdout
