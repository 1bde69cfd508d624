"""dataset_prior: training-set properties and the rules learned over datasets."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lstsaug_jax import data
from lstsaug_jax.experiments import dataset_prior
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results
from tests.conftest import ROOT
from tests.conftest import results_row
from tests.conftest import write_pair


def test_noise_level_is_the_white_noise_on_a_smooth_signal():
  rng = np.random.default_rng(0)
  t = np.linspace(0, 4 * np.pi, 2000)
  smooth = np.stack([np.sin(t + p) + 0.1 * t ** 2 / 100
                     for p in rng.uniform(0, 6, 20)])[:, None, :]
  for sigma in (0.01, 0.05, 0.3):
    noisy = smooth + sigma * rng.normal(size=smooth.shape)
    assert dataset_prior.noise_level(noisy) == pytest.approx(sigma, rel=0.1)
  # A quadratic has a constant second difference: no noise at all.
  assert dataset_prior.noise_level((t ** 2)[None, None, :]) == \
      pytest.approx(0.0, abs=1e-9)


def test_properties_read_the_training_split_alone():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(6, 1, 30)).astype(np.float32)
  y = np.array([0, 0, 0, 1, 1, 1], np.int32)
  a = data.Dataset('A', x, y, x[:2], y[:2], ('a', 'b'))
  b = data.Dataset('A', x, y, 100 * rng.normal(size=(9, 1, 30)),
                   np.zeros(9, np.int32), ('a', 'b'))
  assert dataset_prior.properties(a) == dataset_prior.properties(b)
  assert dataset_prior.properties(a)['per_class'] == 3.0
  assert dataset_prior.properties(a)['length'] == 30


def test_rules_fitted_on_hand_made_effects():
  values = np.arange(1.0, 11.0)
  helps_above = np.where(values > 5, 1.0, -1.0)
  assert dataset_prior.fit_rule(values, helps_above) == ('above', 5.5)
  assert dataset_prior.fit_rule(values, -helps_above) == ('below', 5.5)
  side, t = dataset_prior.fit_rule(values, np.zeros(10))
  assert dataset_prior.describe_rule(side, t) == dict(applies='never',
                                                      threshold=None)
  side, t = dataset_prior.fit_rule(values, np.ones(10))
  assert dataset_prior.describe_rule(side, t) == dict(applies='always',
                                                      threshold=None)
  # Only one side allowed: the best rule on that side.
  assert dataset_prior.fit_rule(values, -helps_above, sides=('above',)) == \
      ('above', np.inf)


def test_leave_one_out_never_uses_the_datasets_own_effect():
  rng = np.random.default_rng(2)
  values = rng.uniform(size=12)
  effects = rng.normal(size=12)
  chosen = dataset_prior.leave_one_out(values, effects)
  for i in range(12):
    for own in (-100.0, 100.0):
      changed = effects.copy()
      changed[i] = own
      assert dataset_prior.leave_one_out(values, changed)[i] == chosen[i]
  # A property that separates gains from losses: each dataset, left out,
  # gets the method exactly where it helps (the threshold falls midway
  # between the others' values: 5 and 8 each side of it, never on it).
  values = np.array([1.0, 2, 3, 4, 5, 8, 9, 10, 11, 12])
  helps = np.where(values > 6, 1.0, -1.0)
  np.testing.assert_array_equal(dataset_prior.leave_one_out(values, helps),
                                values > 6)


def test_permutation_p_tells_a_real_rule_from_noise():
  values = np.arange(1.0, 11.0)
  helps = np.where(values > 5, 1.0, -1.0)
  assert dataset_prior.permutation_p(values, helps, rounds=300) < 0.02
  alternating = np.where(np.arange(10) % 2 == 0, 1.0, -1.0)
  assert dataset_prior.permutation_p(values, alternating, rounds=300) > 0.3


def test_held_out_datasets_score_the_rules_and_never_shape_them():
  props = {f'D{i}': dict(noise=float(i), train_size=10 + i, length=50,
                         classes=2 + i % 3, per_class=3.0) for i in range(10)}
  effect = {d: (0.02 if p['noise'] > 4 else -0.01) for d, p in props.items()}
  held = ('D1', 'D6', 'D8')
  result = dataset_prior.analyse(effect, props, rounds=20, held_out=held)
  assert result['datasets'] == [d for d in props if d not in held]
  noise = result['by_property']['noise']
  assert noise['rule_on_all'] == dict(applies='above', threshold=4.5)
  # Applied to D6 and D8 (noise above 4.5), not D1: (0.02 + 0.02) / 3.
  assert noise['held_out'] == dict(mean=pytest.approx(0.04 / 3),
                                   applied=['D6', 'D8'])
  assert result['held_out']['always'] == pytest.approx(0.03 / 3)
  # Other effects on the held-out datasets change their scores alone.
  moved = dict(effect, D1=5.0, D6=-5.0, D8=-5.0)
  again = dataset_prior.analyse(moved, props, rounds=20, held_out=held)
  for p in dataset_prior.PROPERTIES:
    a, b = result['by_property'][p], again['by_property'][p]
    for key in ('rule_on_all', 'leave_one_out', 'applied', 'spearman',
                'permutation_p'):
      assert a[key] == b[key]
  assert again['by_property']['noise']['held_out']['mean'] == \
      pytest.approx(-10.0 / 3)
  assert '(held out)' in dataset_prior.markdown(result, 'jitter')
  # With the direction fixed in advance, a property whose low values go
  # with gains gives no rule at all.
  fixed = dataset_prior.analyse({d: -e for d, e in effect.items()}, props,
                                rounds=20, sides=('above',))
  assert fixed['by_property']['noise']['rule_on_all']['applies'] == 'never'
  assert fixed['by_property']['noise']['leave_one_out'] == 0.0
  assert 'above a threshold' in dataset_prior.markdown(fixed, 'jitter')


def test_effects_pair_seeds_and_name_unknown_methods(tmp_path):
  path = tmp_path / 'r.csv'
  rows = [results_row(dataset='D1', seed=s, accuracy=a)
          for s, a in ((0, 0.8), (1, 0.6), (2, 0.1))]
  rows += [results_row(dataset='D1', spec='jitter', seed=s, accuracy=a)
           for s, a in ((0, 0.9), (1, 0.6))]
  rows += [results_row(dataset='D2', seed=0, accuracy=0.5)]
  results.ResultsFile(path).append(rows)
  df = loading.load(str(path))
  # Seed 2 has no jitter row and D2 no jitter at all.
  assert dataset_prior.effects(df, 'jitter') == pytest.approx({'D1': 0.05})
  with pytest.raises(results.ResultsError, match="'baseline', 'jitter'"):
    dataset_prior.effects(df, 'latent')


def _series_file(rng, sigma, n=6, length=40):
  t = np.linspace(0, 2 * np.pi, length)
  lines = []
  for i in range(n):
    x = np.sin(t + i) + sigma * rng.normal(size=length)
    lines.append('\t'.join([str(i % 2 + 1)] + [f'{v:.6f}' for v in x]))
  return '\n'.join(lines) + '\n'


def test_command_line(tmp_path):
  rng = np.random.default_rng(3)
  sigmas = dict(Quiet=0.001, Middling=0.03, Loud=0.3, Louder=0.6)
  for name, sigma in sigmas.items():
    write_pair(tmp_path / 'data', name, _series_file(rng, sigma),
               _series_file(rng, sigma))
  rows = []
  for k, name in enumerate(sigmas):
    for seed in range(2):
      rows.append(results_row(dataset=name, seed=seed, accuracy=0.5))
      rows.append(results_row(dataset=name, spec='jitter', seed=seed,
                              accuracy=0.5 + 0.1 * (k - 1.5)))
  csv = tmp_path / 'r.csv'
  results.ResultsFile(csv).append(rows)
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  run = lambda *args: subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.experiments.dataset_prior',
       str(csv), f'--data_dir={tmp_path / "data"}', '--rounds=50', *args],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  done = run('--method=jitter', f'--out={tmp_path / "out"}')
  assert done.returncode == 0, done.stderr
  prior = json.load(open(tmp_path / 'out' / 'prior.json'))
  assert prior['method'] == 'jitter'
  noise = [prior['properties'][d]['noise'] for d in sigmas]
  assert noise == sorted(noise)  # the data were made that way
  assert prior['effects'] == pytest.approx(
      {d: 0.1 * (k - 1.5) for k, d in enumerate(sigmas)})
  assert prior['by_property']['noise']['rule_on_all']['applies'] == 'above'
  assert prior['by_property']['noise']['spearman']['r'] == pytest.approx(1.0)
  assert '| noise | +1.00' in open(tmp_path / 'out' / 'prior.md').read()
  failed = run('--method=latent')
  assert failed.returncode != 0
  assert 'error:' in failed.stderr and "'jitter'" in failed.stderr
  # A held-out dataset the results lack is named, and nothing is written.
  failed = run('--method=jitter', '--held_out=Quiet,Nowhere',
               f'--out={tmp_path / "none"}')
  assert failed.returncode != 0 and 'Nowhere' in failed.stderr
  assert not os.path.exists(tmp_path / 'none')
  done = run('--method=jitter', '--held_out=Louder', f'--out={tmp_path / "h"}')
  assert done.returncode == 0, done.stderr
  held = json.load(open(tmp_path / 'h' / 'prior.json'))
  assert held['datasets'] == ['Quiet', 'Middling', 'Loud']
  assert held['held_out']['datasets'] == ['Louder']
