"""The results CSV: rows round-trip, torn writes, protocols never mix."""

import pytest

from lstsaug_jax import defaults
from lstsaug_jax import specs
from lstsaug_jax.experiments import defaults as sweep_defaults
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import runner
from tests.conftest import results_row


def make_row(dataset='GunPoint', method='baseline', seed=42, accuracy=0.1,
             digest='abc'):
  return results_row(dataset=dataset, method=method, seed=seed,
                     accuracy=accuracy, weighted_f1=accuracy / 3,
                     config_hash=digest)


def test_rows_round_trip_exactly(tmp_path):
  path = tmp_path / 'r.csv'
  f = results.ResultsFile(path)
  f.append([make_row(accuracy=1 / 3), make_row(seed=43, accuracy=0.7)])
  f.append([results_row(spec='latent', accuracy=2 / 3)])
  rows = results.read_rows(str(path))
  assert [float(r['accuracy']) for r in rows] == [1 / 3, 0.7, 2 / 3]
  again = results.ResultsFile(path)
  assert ('GunPoint', 'baseline', '', '43') in again
  assert ('GunPoint', 'latent', specs.make_augmentation('latent').key,
          '42') in again
  assert ('GunPoint', 'baseline', '', '44') not in again
  assert path.read_text().count('dataset,method') == 1  # one header


def test_method_keys_and_labels():
  aug = runner.sweep_method('latent(noise=0.5, num_samples=2)')
  assert aug.key('CBF', 7) == (
      'CBF', 'latent', "mode='fixed';noise=0.5;num_samples=2;share=0.5;"
      'weight=1.0', '7')
  assert aug.label == 'latent(noise=0.5, num_samples=2)'
  # The first version's (noise, num_samples) pairs are the same method.
  assert runner.sweep_method((0.5, 2)) == aug
  assert runner.sweep_method('window_warp').label == 'window_warp'
  assert runner.SweepMethod('baseline').key('CBF', 7) == (
      'CBF', 'baseline', '', '7')
  assert results.method_label('latent', aug.settings) == aug.label


def test_a_torn_last_line_is_dropped_on_resume_and_refused_on_read(tmp_path):
  path = tmp_path / 'r.csv'
  results.ResultsFile(path).append([make_row(), make_row(seed=43)])
  good = path.read_text()
  path.write_text(good + 'GunPoint,baseline,,,44,0.9')  # killed mid-write
  with pytest.raises(results.ResultsError, match='incomplete'):
    results.read_rows(str(path))
  f = results.ResultsFile(path)
  assert len(f.rows) == 2 and path.read_text() == good


def test_another_files_header_is_refused(tmp_path):
  path = tmp_path / 'r.csv'
  path.write_text('a,b\n1,2\n')
  with pytest.raises(results.ResultsError, match='not a results CSV'):
    results.ResultsFile(path)


def test_a_ragged_row_names_its_line(tmp_path):
  path = tmp_path / 'r.csv'
  results.ResultsFile(path).append([make_row()])
  with open(path, 'a') as f:
    f.write('GunPoint,baseline\n')
  with pytest.raises(results.ResultsError, match='line 3'):
    results.read_rows(str(path))


def test_protocol_ignores_where_and_which_but_not_how():
  config = sweep_defaults.get_config()
  proto = results.protocol(config)
  assert 'classifier.learning_rate' in proto and 'num_epochs' in proto
  assert not any(k.startswith('sweep') or k in ('seed', 'dataset',
                                                'results_dir', 'progress')
                 for k in proto)
  digest = results.config_hash(proto)
  config.results_dir = '/elsewhere'
  config.seed = 7
  config.sweep.datasets = ('CBF',)
  assert results.config_hash(results.protocol(config)) == digest
  config.classifier.learning_rate = 0.5
  assert results.config_hash(results.protocol(config)) != digest


def test_rows_of_another_protocol_are_refused_naming_the_fields(tmp_path):
  path = tmp_path / 'r.csv'
  config = defaults.get_config()
  old = results.protocol(config)
  f = results.ResultsFile(path)
  f.record_protocol(results.config_hash(old), old)
  f.append([make_row(digest=results.config_hash(old))])
  config.num_epochs = 3
  new = results.protocol(config)
  f = results.ResultsFile(path)
  f.check_protocol(results.config_hash(old), old)  # the same: fine
  with pytest.raises(results.ResultsError,
                     match=r'num_epochs: 400 there, 3 now.*results_csv'):
    f.check_protocol(results.config_hash(new), new)


def test_a_first_version_csv_is_read_but_not_extended(tmp_path):
  path = tmp_path / 'old.csv'
  header = ','.join(results.LEGACY_COLUMNS)
  path.write_text(
      header + '\n'
      'CBF,baseline,,,42,0.9,0.9,test,30,900,40,40,final,8,resnet_wang,1.0,'
      ',1,abc,0.1.0\n'
      'CBF,lstsaug,0.5,1,42,0.8,0.8,test,60,900,40,40,final,8,resnet_wang,'
      '1.0,2.0,1,abc,0.1.0\n')
  rows = results.read_rows(str(path))
  assert [(r['method'], r['settings']) for r in rows] == [
      ('baseline', ''),
      ('latent', specs.make_augmentation('latent(noise=0.5)').key)]
  table = results.ResultsFile(path)
  with pytest.raises(results.ResultsError, match='written by the first '
                     'version'):
    table.append([results_row()])


def test_a_damaged_protocol_file_is_a_clear_error(tmp_path):
  csv = str(tmp_path / 'sweep.csv')
  assert results.read_protocols(csv) == {}
  with open(csv + '.protocol.json', 'w') as f:
    f.write('{"abc": {"num_epochs": 4')  # cut short
  with pytest.raises(results.ResultsError, match='not valid JSON'):
    results.read_protocols(csv)


def test_a_csv_of_the_previous_columns_is_read_and_resumed_in_them(tmp_path):
  import csv  # pylint: disable=g-import-not-at-top
  from lstsaug_jax.experiments import loading  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'old.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, results.PREVIOUS_COLUMNS, lineterminator='\n',
                            extrasaction='ignore')
    writer.writeheader()
    writer.writerow(make_row())
  old = path.read_text()
  f = results.ResultsFile(path)
  assert f.rows[0]['balanced_accuracy'] == ''
  f.append([results_row(seed=43, balanced_accuracy=0.25, macro_f1=0.2,
                        config_hash='abc')])
  text = path.read_text()
  assert text.startswith(old) and text.count('\n') == 3
  assert 'balanced_accuracy' not in text  # its own columns, every line
  assert len(text.splitlines()[-1].split(',')) == len(results.PREVIOUS_COLUMNS)
  df = loading.load(str(path))
  assert df['balanced_accuracy'].isna().all()
  with pytest.raises(results.ResultsError, match='before the column was'):
    loading.with_metric(df, 'balanced_accuracy')
  # A new CSV holds every metric, and a summary can read any of them.
  new = results.ResultsFile(tmp_path / 'new.csv')
  new.append([results_row(balanced_accuracy=0.25, macro_f1=0.2)])
  df = loading.with_metric(loading.load(str(tmp_path / 'new.csv')),
                           'balanced_accuracy')
  assert df['accuracy'].tolist() == [0.25]
  with pytest.raises(results.ResultsError, match='not a results column'):
    loading.with_metric(df, 'recall')
