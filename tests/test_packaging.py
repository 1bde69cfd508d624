"""The package as a user installs it: a wheel built from pyproject.toml,
installed on its own, run from elsewhere with a copy of configs/."""

import email
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT
from tests.conftest import STARTUP_TIMEOUT


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """The wheel, and the folder it was installed into (no dependencies: the
  test's environment has them)."""
  tmp = tmp_path_factory.mktemp('package')
  source = tmp / 'source'
  # Build from a copy, so the build leaves nothing in the repository.
  shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
      '.git', '.venv*', '__pycache__', 'results', 'build', '*.egg-info',
      'benchmarks', 'docs'))
  built = subprocess.run(
      # The installed setuptools, no build isolation: no package index is
      # needed (CI and offline machines).
      [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
       '--no-build-isolation', '-q', '-w',
       str(tmp / 'wheel'), str(source)], capture_output=True, text=True,
      timeout=600)
  assert built.returncode == 0, built.stderr[-3000:]
  (wheel,) = (tmp / 'wheel').iterdir()
  target = tmp / 'site'
  done = subprocess.run(
      [sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
       str(target), str(wheel)], capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return wheel, target, tmp


def test_the_wheel_holds_the_package_and_requirements_txt(installed):
  wheel, _, _ = installed
  with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    (meta,) = [n for n in names if n.endswith('METADATA')]
    metadata = email.message_from_bytes(z.read(meta))
  assert 'lstsaug_jax/ucr_univariate_names.txt' in names
  assert 'lstsaug_jax/uea_multivariate_names.txt' in names
  assert 'lstsaug_jax/experiments/runner.py' in names
  assert not any(n.startswith(('tests/', 'configs/')) for n in names)
  with open(os.path.join(ROOT, 'requirements.txt')) as f:
    wanted = sorted(l.split('#')[0].strip() for l in f
                    if l.split('#')[0].strip())
  requires = metadata.get_all('Requires-Dist')
  assert sorted(r for r in requires if 'extra ==' not in r) == wanted
  # The interop extra (lsa.Sampler's pipelines, MiniRocket) is optional.
  assert {r.split(';')[0].split('>')[0] for r in requires
          if 'extra == "interop"' in r} == {
              'scikit-learn', 'imbalanced-learn', 'aeon'}
  assert metadata.get_all('Provides-Extra') == ['interop']
  import lstsaug_jax  # pylint: disable=g-import-not-at-top
  assert metadata['Version'] == lstsaug_jax.__version__


def test_installed_package_runs_with_a_copy_of_configs_elsewhere(installed):
  _, site, tmp = installed
  elsewhere = tmp / 'my_project'
  shutil.copytree(os.path.join(ROOT, 'configs'), elsewhere / 'configs')
  run_from = tmp / 'somewhere_else'
  run_from.mkdir()
  env = dict(os.environ, PYTHONPATH=str(site), JAX_PLATFORMS='cpu')
  # japanesevowels.py imports configs.basicmotions: the copy's sibling.
  proc = subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.main',
       f'--config={elsewhere / "configs" / "japanesevowels.py"}',
       '--config.dataset=synthetic:cbf', '--config.num_seeds=1',
       '--config.num_epochs=1', '--config.classifier.num_epochs=1',
       '--config.classifier.arch=resnet_tiny', '--config.augment_plot=False',
       '--config.latent_dim=2', '--config.vae.hidden_dims=(8,)',
       f'--config.results_dir={tmp / "results"}',
       f'--config.model_dir={tmp / "models"}', '--config.progress=False'],
      cwd=run_from, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'baseline accuracy' in proc.stdout
  assert not os.listdir(run_from)  # nothing written where it ran
  # The package that ran is the installed copy, not the repository.
  where = subprocess.run(
      [sys.executable, '-c', 'import lstsaug_jax; print(lstsaug_jax.__file__)'],
      cwd=run_from, env=env, capture_output=True, text=True,
      timeout=STARTUP_TIMEOUT)
  assert where.stdout.startswith(str(site))
