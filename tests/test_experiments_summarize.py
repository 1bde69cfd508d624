"""The summary: statistics against known values, tables, plots, the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from lstsaug_jax import auto
from lstsaug_jax import specs
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import derived
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import summarize
from lstsaug_jax.experiments import tables
from tests.conftest import results_row
from tests.conftest import ROOT
from tests.conftest import STARTUP_TIMEOUT

def rows(spec, evaluated_on='test'):
  """spec: {(dataset, method spec): [accuracy per seed]}."""
  out = []
  for (dataset, method), accs in spec.items():
    for seed, acc in enumerate(accs):
      out.append(results_row(
          dataset=dataset, spec=None if method == 'baseline' else method,
          seed=seed, accuracy=acc, weighted_f1=acc,
          evaluated_on=evaluated_on))
  return out


B, A1, A5 = ('baseline',), ('latent(noise=0.1)',), ('latent(noise=0.5)',)
TEST = {
    ('D1',) + B: [0.80, 0.90], ('D1',) + A1: [0.90, 0.90],
    ('D1',) + A5: [0.70, 0.70],
    ('D2',) + B: [0.60, 0.60], ('D2',) + A1: [0.60, 0.60],
    ('D2',) + A5: [0.90, 0.90],
    ('D3',) + B: [0.50, 0.50], ('D3',) + A1: [0.40, 0.40],
    ('D3',) + A5: [0.45, 0.45],
    ('D4',) + B: [0.95, 0.95],  # an unfinished dataset
}


def write(tmp_path, name, spec, evaluated_on='test'):
  path = tmp_path / name
  results.ResultsFile(path).append(rows(spec, evaluated_on))
  return str(path)


def test_summary_numbers(tmp_path):
  s = summarize.summarise(loading.load(write(tmp_path, 'r.csv', TEST)))
  a1, a5 = 'latent', 'latent(noise=0.5)'
  assert s['methods'] == ['baseline', a1, a5]
  assert s['complete_datasets'] == ['D1', 'D2', 'D3']
  assert s['per_dataset']['D1']['baseline'] == pytest.approx(
      dict(mean=0.85, std=0.05, seeds=2))
  o = s['overall']
  assert o['baseline']['mean_accuracy'] == pytest.approx((0.85 + .6 + .5) / 3)
  assert (o[a1]['wins'], o[a1]['ties'], o[a1]['losses']) == (1, 1, 1)
  assert (o[a5]['wins'], o[a5]['ties'], o[a5]['losses']) == (1, 0, 2)
  # Ranks per dataset (1 best, ties averaged): D1 2,1,3; D2 2.5,2.5,1;
  # D3 1,3,2.
  assert o['baseline']['mean_rank'] == pytest.approx((2 + 2.5 + 1) / 3)
  assert o[a1]['mean_rank'] == pytest.approx((1 + 2.5 + 3) / 3)
  assert o[a5]['mean_rank'] == pytest.approx((3 + 1 + 2) / 3)


def test_markdown_bolds_the_best_and_shows_anchors(tmp_path):
  anchors = tmp_path / 'anchors.csv'
  anchors.write_text('dataset,n_train,resnet_fawaz2019_mean5,other\n'
                     'D1,20,0.99,0.1\nD3,30,0.75,0.2\n')
  written = summarize.write_summary(write(tmp_path, 'r.csv', TEST),
                                    str(tmp_path / 'out'), str(anchors))
  text = open(written['markdown']).read()
  lines = {l.split(' | ')[0].strip('| '): l for l in text.splitlines()}
  assert '**0.9000 ± 0.0000**' in lines['D1'] and '0.99' in lines['D1']
  assert lines['D1'].count('**') == 2  # one best
  assert lines['D2'].count('**') == 2 and '**0.9000' in lines['D2']
  assert lines['D4'].endswith('| - | - | - |')  # unfinished, no anchor
  assert 'resnet_fawaz2019_mean5 | 2 | 0.8700 | 0.6750' in text
  summary = json.load(open(written['json']))
  assert summary['anchors']['resnet_fawaz2019_mean5'] == {'D1': 0.99,
                                                          'D3': 0.75}
  for name in ('bars', 'scatter'):
    with open(written[name], 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_validation_choice_never_reads_test_accuracy(tmp_path):
  # On validation, noise 0.1 wins D1 and D3 and noise 0.5 wins D2; on the
  # test set noise 0.5 would have been the better pick for D3.
  validation = {
      ('D1',) + A1: [0.9], ('D1',) + A5: [0.5],
      ('D2',) + A1: [0.5], ('D2',) + A5: [0.9],
      ('D3',) + A1: [0.7], ('D3',) + A5: [0.7],  # a tie: first setting
  }
  written = summarize.write_summary(
      write(tmp_path, 'r.csv', TEST), str(tmp_path / 'out'),
      select_on=write(tmp_path, 'v.csv', validation, 'validation'))
  s = json.load(open(written['json']))
  chosen = results.CHOSEN
  assert s['chosen_on_validation'] == {
      'D1': 'latent', 'D2': 'latent(noise=0.5)', 'D3': 'latent'}
  assert s['per_dataset']['D3'][chosen]['mean'] == pytest.approx(0.40)
  assert s['overall'][chosen]['mean_accuracy'] == pytest.approx(
      (0.9 + 0.9 + 0.4) / 3)
  with pytest.raises(results.ResultsError, match='validation'):
    summarize.write_summary(write(tmp_path, 'r2.csv', TEST),
                            select_on=write(tmp_path, 't.csv', validation))


def test_command_line(tmp_path):
  path = write(tmp_path, 'r.csv', TEST)
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  run = lambda *args: subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.experiments.summarize', *args],
      cwd=ROOT, env=env, capture_output=True, text=True,
      timeout=STARTUP_TIMEOUT)
  done = run(path)
  assert done.returncode == 0, done.stderr
  assert '| D1 |' in done.stdout
  assert os.path.exists(tmp_path / 'r.summary' / 'summary.md')
  # --methods end to end, with a label that holds a comma.
  two = write(tmp_path, 'two.csv', {
      ('D1',) + B: [0.8], ('D1', 'latent(noise=0.5, num_samples=2)'): [0.9],
      ('D1',) + A1: [0.7]})
  done = run(two, '--methods=baseline,latent(noise=0.5, num_samples=2)',
             f'--out={tmp_path / "picked"}')
  assert done.returncode == 0, done.stderr
  picked = json.load(open(tmp_path / 'picked' / 'summary.json'))
  assert picked['methods'] == ['baseline', 'latent(noise=0.5, num_samples=2)']
  bad = tmp_path / 'bad.csv'
  bad.write_text('x,y\n1,2\n')
  failed = run(str(bad))
  assert failed.returncode != 0
  assert 'error:' in failed.stderr and 'not a results CSV' in failed.stderr
  mixed = tmp_path / 'mixed.csv'
  mixed.write_text(open(path).read() + open(path).read().splitlines()[1]
                   .replace(',h1,', ',h2,').replace('D1,', 'D9,', 1) + '\n')
  failed = run(str(mixed))
  assert 'mixes rows of config hashes' in failed.stderr


def _with_protocol(path, digest, proto):
  with open(path + '.protocol.json', 'w') as f:
    json.dump({digest: proto}, f)
  return path


def test_several_csvs_join_when_only_the_vae_differs(tmp_path):
  proto = {'classifier.num_epochs': 40, 'vae.contrastive_weight': 0.0}
  first = _with_protocol(write(tmp_path, 'a.csv', {
      k: v for k, v in TEST.items() if k[1] != A5[0]}), 'h1', proto)
  second = tmp_path / 'b.csv'
  results.ResultsFile(second).append([dict(r, config_hash='h2') for r in rows(
      {k: v for k, v in TEST.items() if k[1] == A1[0]})])
  second = _with_protocol(str(second), 'h2',
                          dict(proto, **{'vae.contrastive_weight': 1.0}))
  df = loading.load_many([first, second])
  s = summarize.summarise(df)
  joined = 'latent [vae.contrastive_weight=1.0]'
  assert s['methods'] == ['baseline', 'latent', joined]
  assert s['per_dataset']['D1'][joined]['mean'] == pytest.approx(0.9)
  assert s['config_hash'] == 'h1+h2'
  written = summarize.write_summary([first, second])
  assert os.path.exists(written['ranks'])
  assert joined in open(written['markdown']).read()
  # A classifier field that differs: not comparable.
  _with_protocol(second, 'h2', dict(proto, **{'classifier.num_epochs': 80,
                                              'vae.contrastive_weight': 1.0}))
  with pytest.raises(results.ResultsError, match='classifier.num_epochs'):
    loading.load_many([first, second])
  # The same protocol twice (shards): joined, but a run in both is refused.
  with pytest.raises(results.ResultsError, match='appears in more than one'):
    loading.load_many([first, first])


def test_each_method_against_the_baseline_on_the_datasets_both_have(tmp_path):
  """A method that ran on fewer datasets (A5 not on D4, D5) does not shrink
  the others' comparison; --methods ranks the methods that ran everywhere."""
  spec = dict(TEST)
  spec[('D4',) + A1] = [0.97, 0.97]
  spec[('D5',) + B] = [0.70, 0.70]
  spec[('D5',) + A1] = [0.60, 0.60]
  path = write(tmp_path, 'r.csv', spec)
  s = summarize.summarise(loading.load(path))
  assert s['complete_datasets'] == ['D1', 'D2', 'D3']
  a1 = s['vs_baseline']['latent']
  # D1 +0.05, D2 0, D3 -0.1, D4 +0.02, D5 -0.1.
  assert a1['datasets'] == 5
  assert (a1['wins'], a1['ties'], a1['losses']) == (2, 1, 2)
  assert a1['mean_accuracy'] == pytest.approx((0.9 + .6 + .4 + .97 + .6) / 5)
  assert a1['baseline_mean_accuracy'] == pytest.approx(
      (0.85 + .6 + .5 + .95 + .7) / 5)
  assert a1['worst_difference'] == pytest.approx(-0.1)
  assert s['vs_baseline']['latent(noise=0.5)']['datasets'] == 3
  written = summarize.write_summary(path, str(tmp_path / 'all'))
  text = open(written['markdown']).read()
  assert '| latent | 5 | 0.6940 | 0.7200 | 2 / 1 / 2 |' in text
  written = summarize.write_summary(path, str(tmp_path / 'two'),
                                    methods=['baseline', 'latent'])
  two = json.load(open(written['json']))
  assert two['methods'] == ['baseline', 'latent']
  assert two['complete_datasets'] == ['D1', 'D2', 'D3', 'D4', 'D5']
  with pytest.raises(results.ResultsError, match="'latnt'"):
    summarize.write_summary(path, str(tmp_path / 'x'),
                            methods=['baseline', 'latnt'])


def test_methods_flag_keeps_commas_inside_a_label():
  conv = "latent [vae.arch='conv', vae.hidden_dims=[32, 64, 64]]"
  warp = "window_warp(mode='fixed';scales=(0.5, 1.5))"
  assert specs.split_top_level(f'baseline, {warp},{conv},') == [
      'baseline', warp, conv]
  assert specs.split_top_level('') == []


def test_markdown_states_the_interval_of_each_difference(tmp_path):
  written = summarize.write_summary(write(tmp_path, 'r.csv', TEST),
                                    str(tmp_path / 'out'))
  # latent against the baseline, by dataset: +0.05, 0, -0.10 (seed means);
  # a t interval over the three datasets, as scipy's one-sample t test.
  d = np.array([0.05, 0.0, -0.10])
  lo, hi = stats.ttest_1samp(d, 0).confidence_interval(0.95)
  se = d.std(ddof=1) / np.sqrt(3)
  # Per-dataset paired differences by seed: D1 +0.10, 0; D2 and D3 none.
  seed_noise = np.sqrt(np.var([0.10, 0.0], ddof=1) / 2) / 3
  row = (f'| latent | 3 | {100 * d.mean():+.2f} | '
         f'[{100 * lo:+.2f}, {100 * hi:+.2f}] | {100 * se:.2f} | '
         f'{100 * seed_noise:.2f} |')
  assert row == '| latent | 3 | -1.67 | [-20.64, +17.31] | 4.41 | 1.67 |'
  assert row in open(written['markdown']).read()


def test_holm_friedman_and_derived_rows(tmp_path):
  """Holm over the table's methods against the baseline; Friedman and the
  ranks over the methods that ran; a derived row (chosen on validation)
  shown but outside both."""
  validation = {('D1',) + A1: [0.9], ('D1',) + A5: [0.5],
                ('D2',) + A1: [0.5], ('D2',) + A5: [0.9],
                ('D3',) + A1: [0.7], ('D3',) + A5: [0.6]}
  plain = summarize.summarise(loading.load(write(tmp_path, 'r.csv', TEST)))
  written = summarize.write_summary(
      write(tmp_path, 'r2.csv', TEST), str(tmp_path / 'out'),
      select_on=write(tmp_path, 'v.csv', validation, 'validation'))
  s = json.load(open(written['json']))
  a1, a5, chosen = 'latent', 'latent(noise=0.5)', results.CHOSEN
  # Per dataset (D1, D2, D3): latent +.05, 0, -.10; noise 0.5 -.15, +.30,
  # -.05. With so few datasets neither is told from the baseline.
  assert s['overall'][a1]['wilcoxon_p'] == pytest.approx(1.0)
  # noise 0.5: |d| ranks 2, 3, 1, signs -, +, -: T+ = 3, the centre.
  assert s['overall'][a5]['wilcoxon_p'] == pytest.approx(1.0)
  assert s['overall'][a5]['wilcoxon_p_holm'] == pytest.approx(1.0)
  assert s['methods'] == ['baseline', a1, a5, chosen]
  assert s['derived_methods'] == [chosen]
  assert s['overall'][chosen]['mean_rank'] is None
  for m in ('baseline', a1, a5):
    assert s['overall'][m]['mean_rank'] == pytest.approx(
        plain['overall'][m]['mean_rank'])
  assert s['friedman']['methods'] == 3
  assert s['friedman'] == pytest.approx(plain['friedman'])
  assert {(p['a'], p['b']) for p in s['pairwise']} == {
      ('baseline', a1), ('baseline', a5), (a1, a5)}
  text = open(written['markdown']).read()
  assert f'| {chosen} † |' in text and "Friedman's test over the 3" in text
  assert '| significant |' in text
  # Six datasets where one method wins everywhere (exact p 2/64) and one
  # ties: raw p 0.031 < 0.05, but Holm over the two comparisons doubles it.
  six = {}
  for k in range(6):
    six[(f'E{k}', 'baseline')] = [0.5 + 0.05 * k]
    six[(f'E{k}', 'jitter')] = [0.52 + 0.05 * k + 0.01 * k]
    six[(f'E{k}', 'scaling')] = [0.5 + 0.05 * k]
  s = summarize.summarise(loading.load(write(tmp_path, 'six.csv', six)))
  assert s['overall']['jitter']['wilcoxon_p'] == pytest.approx(2 / 64)
  assert s['overall']['jitter']['wilcoxon_p_holm'] == pytest.approx(4 / 64)
  assert s['overall']['scaling']['wilcoxon_p_holm'] == pytest.approx(1.0)
  line = [l for l in tables.markdown(s).splitlines()
          if l.startswith('| jitter |')][0]
  assert line.endswith('| 0.0312 | 0.0625 | no |')


def _auto_rows(cross_validated, train_size=20):
  """auto rows (candidate window_warp) from {dataset: [(cv window_warp,
  cv none) per seed]}."""
  spec = auto.parse("auto(candidates=('window_warp',))")
  return [results_row(dataset=d, method='auto', settings=spec.key, seed=s,
                      accuracy=0.5, weighted_f1=0.5, train_size=train_size,
                      details=json.dumps(dict(
                          chosen='none', cross_validated={
                              'window_warp': warp, 'none': none})))
          for d, per_seed in cross_validated.items()
          for s, (warp, none) in enumerate(per_seed)]


def test_auto_cross_validation_against_the_test(tmp_path):
  # Test differences (window_warp - baseline): D1 +0.10, D2 -0.05, D3 +0.02,
  # D4 0. Cross-validated ones rank them the same way, then reversed.
  test = {('D1', 'baseline'): [0.8, 0.8], ('D1', 'window_warp'): [0.9, 0.9],
          ('D2', 'baseline'): [0.7, 0.7], ('D2', 'window_warp'): [0.6, 0.7],
          ('D3', 'baseline'): [0.5, 0.5], ('D3', 'window_warp'): [0.5, 0.54],
          ('D4', 'baseline'): [0.9, 0.9], ('D4', 'window_warp'): [0.9, 0.9]}
  agree = {'D1': [(0.9, 0.8), (0.9, 0.8)], 'D2': [(0.7, 0.8), (0.8, 0.8)],
           'D3': [(0.8, 0.8), (0.82, 0.8)], 'D4': [(0.8, 0.8), (0.8, 0.8)]}
  reverse = {d: [(n, w) for w, n in v] for d, v in agree.items()}
  label = "auto(candidates=('window_warp',))"
  for cross_validated, sign in ((agree, 1), (reverse, -1)):
    path = tmp_path / f'r{sign}.csv'
    results.ResultsFile(path).append(
        rows(test) + _auto_rows(cross_validated, train_size=25))
    summary = summarize.summarise(loading.load(str(path)))
    o = summary['auto_cross_validation'][label]['window_warp']
    assert o['datasets'] == 4 and o['cv_ties'] == 1  # D4
    assert o['per_dataset']['D1'] == pytest.approx(
        dict(cv=sign * 0.1, test=0.1))
    assert o['per_dataset']['D2'] == pytest.approx(
        dict(cv=sign * -0.05, test=-0.05))
    assert o['spearman']['r'] == pytest.approx(sign * 1.0)
    assert o['one_series'] == pytest.approx(1 / 25)
    assert f'| {label} | window_warp | 4 | 1 | {sign * 1.0:+.2f}' in (
        tables.markdown(summary))
  # Without the candidate's own rows there is nothing to compare.
  path = tmp_path / 'alone.csv'
  results.ResultsFile(path).append(
      rows({k: v for k, v in test.items() if k[1] == 'baseline'})
      + _auto_rows(agree))
  summary = summarize.summarise(loading.load(str(path)))
  assert summary['auto_cross_validation'] == {}
  assert 'foretells' not in tables.markdown(summary)


def test_auto_by_choice_takes_the_chosen_arms_rows(tmp_path):
  # auto's own rows (accuracy 0.5) ran elsewhere; by its choices, D1 seed 0
  # is window_warp's row and everything else the baseline's.
  test = {('D1', 'baseline'): [0.8, 0.7], ('D1', 'window_warp'): [0.9, 0.6],
          ('D2', 'baseline'): [0.6, 0.6], ('D2', 'window_warp'): [0.3, 0.3]}
  autos = _auto_rows({'D1': [(0.9, 0.8), (0.7, 0.8)],
                      'D2': [(0.7, 0.8), (0.7, 0.8)]})
  for r in autos:
    r['details'] = json.dumps(dict(json.loads(r['details']), chosen=(
        'window_warp' if (r['dataset'], r['seed']) == ('D1', 0) else 'none')))
  path = tmp_path / 'r.csv'
  results.ResultsFile(path).append(rows(test) + autos)
  label = "auto(candidates=('window_warp',))"
  df, added = derived.add_auto_by_choice(loading.load(str(path)))
  assert added == [label + results.BY_CHOICE]
  by_choice = df[df['label'] == added[0]].sort_values(['dataset', 'seed'])
  assert list(by_choice['accuracy']) == [0.9, 0.7, 0.6, 0.6]
  assert set(by_choice['method']) == {'auto'}
  written = summarize.write_summary(str(path), str(tmp_path / 'out'),
                                    auto_by_choice=True)
  summary = json.load(open(written['json']))
  assert summary['auto_by_choice'] == added
  # auto's own rows (0.5) against the chosen arms': 0.4, 0.2, 0.1, 0.1.
  assert summary['auto_by_choice_agreement'][added[0]] == pytest.approx(
      dict(seeds=4, equal=0, median_difference=0.15, max_difference=0.4))
  vs = summary['vs_baseline'][added[0]]
  assert (vs['wins'], vs['ties'], vs['losses']) == (1, 1, 0)  # D1 +0.05
  assert summary['vs_baseline'][label]['losses'] == 2  # its own rows: 0.5
  # Its companion is not a second auto with cross-validated scores.
  assert list(summary['auto_cross_validation']) == [label]
  assert f'`{added[0]}`: per dataset and seed' in open(
      written['markdown']).read()
  # Without the chosen arm's rows it cannot be scored: an error, not a gap.
  alone = tmp_path / 'alone.csv'
  results.ResultsFile(alone).append(
      rows({k: v for k, v in test.items() if k[1] == 'baseline'}) + autos)
  with pytest.raises(results.ResultsError, match="no 'window_warp' row"):
    derived.add_auto_by_choice(loading.load(str(alone)))


def test_rows_of_one_dataset_on_different_machines_are_named(tmp_path):
  spec = {('D1', 'baseline'): [0.8, 0.7], ('D1', 'window_warp'): [0.9, 0.6],
          ('D2', 'baseline'): [0.6, 0.6], ('D2', 'window_warp'): [0.3, 0.3]}
  on = lambda machine: json.dumps(dict(machine=machine))
  written = rows(spec)
  for r in written:
    late = (r['dataset'], r['method']) == ('D1', 'window_warp')
    r['details'] = on('cpu B' if late else 'cpu A')
  written[-1]['details'] = ''  # a row from before rows recorded it
  path = tmp_path / 'r.csv'
  results.ResultsFile(path).append(written)
  summary = summarize.summarise(loading.load(str(path)))
  assert summary['mixed_machines'] == {'D1': ['cpu A', 'cpu B']}
  assert '**Rows of one dataset ran on different machines**' in (
      tables.markdown(summary))
  assert 'D1: cpu A and cpu B' in tables.markdown(summary)
  same = tmp_path / 'same.csv'
  results.ResultsFile(same).append(rows(spec))
  summary = summarize.summarise(loading.load(str(same)))
  assert 'mixed_machines' not in summary
  assert 'different machines' not in tables.markdown(summary)


def _same(a, b, where=''):
  """JSON values equal, floats to 1e-9 relative."""
  if isinstance(a, dict):
    assert isinstance(b, dict) and set(a) == set(b), where
    for k in a:
      _same(a[k], b[k], f'{where}.{k}')
  elif isinstance(a, list):
    assert isinstance(b, list) and len(a) == len(b), where
    for i, (x, y) in enumerate(zip(a, b)):
      _same(x, y, f'{where}[{i}]')
  elif isinstance(a, float) and isinstance(b, float):
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), where
  else:
    assert a == b, where


def test_every_committed_summary_regenerates_from_its_csvs(tmp_path,
                                                         shared_data):
  """The registry names each committed summary's CSVs and flags; written
  again by this version of summarize, every summary.json is the committed
  one, and so is every summary.md (so a regression in the statistics or
  the tables fails here). The plots are left out: other tests draw them."""
  from tests.conftest import REFERENCE  # pylint: disable=g-import-not-at-top
  del shared_data  # the anchors sit beside it
  registry = os.path.join(ROOT, 'benchmarks', 'results', 'summaries.json')
  written = summarize.write_registry(registry, REFERENCE, str(tmp_path),
                                     plots_too=False)
  assert len(written) >= 20
  for name, paths in written.items():
    with open(os.path.join(ROOT, 'benchmarks', 'results', name,
                           'summary.json')) as f:
      committed = json.load(f)
    with open(paths['json']) as f:
      _same(json.load(f), committed, name)
    with open(os.path.join(ROOT, 'benchmarks', 'results', name,
                           'summary.md')) as f, open(paths['markdown']) as g:
      assert g.read() == f.read(), name
