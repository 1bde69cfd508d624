"""The regime map: gains over none and over SMOTE per regime, by hand."""

import json
import os

import numpy as np
import pytest

from lstsaug_jax.experiments import regime_map
from lstsaug_jax.experiments import results
from tests.conftest import results_row

LATENT = 'latent(strategy=auto)'
LABEL = "latent(strategy='auto')"  # as tables label it


def write_csv(path, gains):
  """Rows of baseline, smote and latent(strategy=auto) on four datasets,
  three seeds: balanced accuracy 0.5 + dataset / 100 for the baseline,
  plus gains[method] for the others."""
  rows = []
  for d in range(4):
    for seed in (42, 43, 44):
      for spec, gain in (('baseline', 0.0), ('smote', gains['smote']),
                         (LATENT, gains['latent'] + d / 1000)):
        fields = dict(dataset=f'D{d}', seed=seed, config_hash='h',
                      balanced_accuracy=0.5 + d / 100 + gain, macro_f1=0.5)
        rows.append(results_row(**fields) if spec == 'baseline'
                    else results_row(spec=spec, **fields))
  results.ResultsFile(path).append(rows)
  return str(path)


def test_gains_intervals_and_the_plots(tmp_path):
  regimes = {
      'shots2': [write_csv(tmp_path / 's2.csv', dict(smote=0.0, latent=0.02))],
      'shots8': [write_csv(tmp_path / 's8.csv', dict(smote=0.01, latent=0.0))],
      'ratio4': [write_csv(tmp_path / 'r4.csv',
                           dict(smote=0.05, latent=-0.01))],
  }
  written = regime_map.write_map(regimes, str(tmp_path / 'map'))
  with open(written['json']) as f:
    summary = json.load(f)['regimes']
  latent = summary['shots2']['vs_none'][LABEL]
  # Gains 0.020, 0.021, 0.022, 0.023 over the four datasets.
  assert latent['mean'] == pytest.approx(0.0215)
  assert latent['ci'][0] < 0.0215 < latent['ci'][1]
  assert (latent['wins'], latent['losses'], latent['datasets']) == (4, 0, 4)
  assert latent['holm_p'] >= latent['wilcoxon_p']
  smote = summary['ratio4']['vs_none']['smote']
  assert smote['mean'] == pytest.approx(0.05) and smote['ci'] == (
      pytest.approx([0.05, 0.05]))
  # Against SMOTE, only the latent methods, in their own family.
  assert list(summary['ratio4']['vs_smote']) == [LABEL]
  assert summary['ratio4']['vs_smote'][LABEL][
      'mean'] == pytest.approx(-0.0585)
  assert os.path.exists(written['shots']) and os.path.exists(written['ratio'])
  with open(written['markdown']) as f:
    text = f.read()
  assert '### shots2: vs none' in text and '+2.15' in text
  assert regime_map.axis('shots16') == ('shots', 16.0)
  assert regime_map.axis('imbalanced') == (None, None)
  assert np.isfinite(latent['method_mean'])


def _close(a, b, where=''):
  if isinstance(a, dict):
    assert set(a) == set(b), where
    for k in a:
      _close(a[k], b[k], f'{where}.{k}')
  elif isinstance(a, list):
    assert len(a) == len(b), where
    for i, (x, y) in enumerate(zip(a, b)):
      _close(x, y, f'{where}[{i}]')
  elif isinstance(a, float) and isinstance(b, float):
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
  else:
    assert a == b, where


def _committed_maps():
  from tests.conftest import ROOT  # pylint: disable=g-import-not-at-top
  root = os.path.join(ROOT, 'benchmarks', 'results', 'map')
  return sorted(os.path.join(root, d) for d in os.listdir(root)
                if os.path.exists(os.path.join(root, d, 'regimes.json')))


def test_the_maps_are_committed():
  assert {os.path.basename(f) for f in _committed_maps()} >= {
      'minirocket', 'resnet'}


@pytest.mark.parametrize('folder', _committed_maps(), ids=os.path.basename)
def test_each_committed_map_regenerates_from_its_csvs(folder, tmp_path):
  regimes = regime_map.read_regimes(os.path.join(folder, 'regimes.json'))
  written = regime_map.write_map(regimes, str(tmp_path))
  with open(written['json']) as f, open(os.path.join(folder,
                                                     'map.json')) as g:
    _close(json.load(f), json.load(g))
  with open(written['markdown']) as f, open(os.path.join(folder,
                                                         'map.md')) as g:
    assert f.read() == g.read()
