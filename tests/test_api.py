"""The Python API (`import lstsaug_jax as lsa`): the README's example as
written, inputs checked at the boundary, checkpoints shared with the
command line, export read back by the project's own loader."""

import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

import lstsaug_jax as lsa
from lstsaug_jax import formats
from lstsaug_jax import pipeline
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import DataError
from tests.conftest import ROOT
from tests.conftest import STARTUP_TIMEOUT


def readme_block(heading):
  """The first ```python block after `heading` in the README."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  section = text[text.index(heading):]
  return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(readme_block('## Python API'), 'README.md', 'exec'),
       namespace)  # pylint: disable=exec-used
  x_new, y_new = namespace['x_new'], namespace['y_new']
  d = namespace['d']
  assert x_new.shape == (60, 1, 128) and len(y_new) == 60
  assert set(y_new) <= set(d.class_names)
  # The exported file reads back, with the project's own loader.
  raw = formats.read_split(os.path.join('synthetic', 'cbf', 'cbf_TRAIN.tsv'))
  np.testing.assert_allclose(raw.values, x_new, rtol=1e-6, atol=1e-6)
  assert list(raw.labels) == list(y_new)


def tiny_vae(x, y, **kwargs):
  return lsa.fit_vae(x, y, seed=0, num_epochs=3, latent_dim=4,
                     progress=False, **{'vae.hidden_dims': (16,)}, **kwargs)


def toy(n=12, channels=2, length=16, labels=('up', 'down', 'flat')):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, channels, length)).astype(np.float32)
  y = np.array([labels[i % len(labels)] for i in range(n)])
  return x, y


def test_fit_generate_save_load_with_any_labels(tmp_path):
  x, y = toy()
  vae = tiny_vae(x, y)
  assert list(vae.classes) == ['down', 'flat', 'up']
  assert [r['epoch'] for r in vae.history] == [1, 2, 3]
  assert {'r2_train', 'kl', 'active_dims'} <= set(vae.quality)
  x_new, y_new = lsa.generate(vae, x, y, 7, noise=0.1, num_samples=2)
  assert x_new.shape == (24, 2, 16)
  np.testing.assert_array_equal(y_new, np.concatenate([y, y]))
  again, _ = lsa.generate(vae, x, y, 7, noise=0.1, num_samples=2)
  np.testing.assert_array_equal(again, x_new)  # same seed, same series
  other, _ = lsa.generate(vae, x, y, 8, noise=0.1, num_samples=2)
  assert not np.allclose(other, x_new)
  path = vae.save(str(tmp_path / 'vae'))
  loaded = lsa.load_vae(path)
  jax.tree_util.tree_map(np.testing.assert_array_equal, vae.params,
                         loaded.params)
  assert list(loaded.classes) == list(vae.classes)
  from_disk, labels = lsa.generate(loaded, x, y, 7, noise=0.1, num_samples=2)
  np.testing.assert_allclose(from_disk, x_new, rtol=1e-6)
  # Integer labels come back as integers; 2-D input as 2-D output.
  ints = np.arange(12) % 2 + 10
  vae1 = tiny_vae(x[:, :1], ints)
  x1, y1 = lsa.generate(vae1, x[:, 0], ints, 0)
  assert x1.shape == (12, 16) and y1.dtype == ints.dtype
  np.testing.assert_array_equal(y1, ints)


def test_classic_methods_need_no_vae_and_mixup_gives_soft_labels():
  x, y = toy()
  for method in ('jitter', 'scaling', 'magnitude_warp', 'time_warp',
                 'window_slice', 'window_warp'):
    x_new, y_new = lsa.generate(None, x, y, 0, method=method, num_samples=3)
    assert x_new.shape == (36, 2, 16), method
    np.testing.assert_array_equal(y_new, np.tile(y, 3))
  x_mix, p_mix = lsa.generate(None, x, y, 0, method='mixup')
  assert x_mix.shape == (12, 2, 16) and p_mix.shape == (12, 3)
  np.testing.assert_allclose(p_mix.sum(axis=1), 1.0, rtol=1e-6)
  x_s, _ = lsa.generate(None, x, y, 0, method='jitter', sigma=0.0)
  np.testing.assert_array_equal(x_s, x)  # sigma 0: unchanged


@pytest.mark.parametrize('call, error, expected', [
    (lambda x, y: lsa.generate(None, x[:, :, :1], y, 0, method='jitter'),
     DataError, 'length >= 2'),
    (lambda x, y: lsa.generate(None, np.where(x > 2, np.nan, x), y, 0,
                               method='jitter'), DataError, 'is nan'),
    (lambda x, y: lsa.generate(None, x, y[:5], 0, method='jitter'),
     DataError, r'one label per series: shape \(12,\)'),
    (lambda x, y: lsa.generate(None, x, y, 0, method='latent'),
     ConfigError, "'latent' needs a trained VAE"),
    (lambda x, y: lsa.generate(None, x, y, 0, method='magic'),
     ConfigError, "Unknown augmentation method 'magic'"),
    (lambda x, y: lsa.generate(None, x, y, 0, method='jitter', noise=1),
     ConfigError, "'jitter' has no setting 'noise'"),
    (lambda x, y: lsa.fit_vae(x, np.array(['a'] * 12)), DataError,
     'one class only'),
    (lambda x, y: lsa.fit_vae(x, y, num_epoch=3), ConfigError,
     "no field 'num_epoch'; did you mean 'num_epochs'"),
    (lambda x, y: lsa.fit_vae(x, y, num_epochs=0), ConfigError,
     'num_epochs=0'),
    (lambda x, y: lsa.load_dataset('x', polcy=1), ConfigError,
     'no policy polcy'),
])
def test_bad_api_inputs_are_named(call, error, expected):
  x, y = toy()
  with pytest.raises(error, match=expected):
    call(x, y)


def test_a_vae_of_another_shape_is_refused():
  x, y = toy()
  vae = tiny_vae(x, y)
  with pytest.raises(DataError, match=r'trained on \(2, 16\)'):
    lsa.generate(vae, x[:, :1], y, 0)


def test_importing_changes_nothing_in_the_process():
  code = ('import sys, jax; before = jax.config.jax_compilation_cache_dir; '
          'import lstsaug_jax as lsa; '
          'assert "matplotlib.pyplot" not in sys.modules; '
          'assert jax.config.jax_compilation_cache_dir == before; '
          'print(sorted(lsa.METHODS))')
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                        capture_output=True, text=True,
                        timeout=STARTUP_TIMEOUT,
                        env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 0, proc.stderr
  assert 'latent' in proc.stdout and 'window_warp' in proc.stdout


def test_the_command_line_exports_its_synthetic_series(tiny_config):
  tiny_config.export_synthetic = True
  tiny_config.num_samples = 2
  run = pipeline.run(tiny_config)
  (path,) = run.results['synthetic_files']
  assert path == os.path.join(run.results['run_dir'], 'synthetic',
                              'synthetic_cbf_TRAIN.tsv')
  raw = formats.read_split(path)
  x_aug, y_aug, _ = run.augmented
  np.testing.assert_allclose(raw.values, np.asarray(x_aug[0, 30:]),
                             rtol=1e-6, atol=1e-6)
  names = np.array(run.dataset.class_names)
  assert list(raw.labels) == list(names[np.argmax(y_aug[0, 30:], -1)])
  # A checkpoint the command line wrote loads in Python.
  vae = lsa.load_vae(run.results['vae_checkpoint'])
  assert vae.series_length == 128 and list(vae.classes) == list(names)


@pytest.mark.parametrize('channels', [1, 3])
def test_what_export_writes_load_dataset_reads(tmp_path, channels):
  x, y = toy(channels=channels)
  path = lsa.export(str(tmp_path), x, y, 'Toy')
  assert path == str(tmp_path / 'Toy' / ('Toy_TRAIN.tsv' if channels == 1
                                         else 'Toy_TRAIN.ts'))
  lsa.export(str(tmp_path), x[:6], y[:6], 'Toy', split='TEST')
  d = lsa.load_dataset('Toy', data_dir=str(tmp_path), normalisation='none')
  assert d.x_train.shape == (12, channels, 16)
  assert d.class_names == ('down', 'flat', 'up')
  np.testing.assert_allclose(d.x_train, x, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(d.x_test, x[:6], rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(np.array(d.class_names)[d.y_train], y)


def test_a_multivariate_archive_dataset_end_to_end(tiny_config, shared_data):
  tiny_config.data_dir = shared_data
  tiny_config.dataset = 'BasicMotions'
  tiny_config.normalisation = 'channel'
  tiny_config.baseline = True
  tiny_config.test_augment = True
  tiny_config.augment_plot = True
  tiny_config.export_synthetic = True
  run = pipeline.run(tiny_config)
  results = run.results
  assert (results['train_size'], results['augmented_train_size']) == (40, 80)
  assert run.classifiers['augmented'][1].params['Conv1D_0']['kernel'].shape[
      -2] == 6  # (seeds, kernel, channels in, out): the 6 channels
  with open(results['augment_plot'], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  (path,) = results['synthetic_files']
  assert path.endswith(os.path.join('synthetic', 'BasicMotions_TRAIN.ts'))
  raw = formats.read_split(path)
  x_aug, _, _ = run.augmented
  np.testing.assert_allclose(raw.values, np.asarray(x_aug[0, 40:]),
                             rtol=1e-5, atol=1e-6)
  assert set(raw.labels) == set(run.dataset.class_names)
