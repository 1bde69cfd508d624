"""lsa.Sampler: imbalanced-learn's fit_resample convention, every method, the
VAE fitted on the training fold alone."""

import numpy as np
import pytest

import lstsaug_jax as lsa
from lstsaug_jax import api
from lstsaug_jax import balance
from lstsaug_jax import transforms
from lstsaug_jax.errors import AugmentationError
from lstsaug_jax.errors import ConfigError

# A VAE that trains in a second or two.
TINY_VAE = {'num_epochs': 3, 'latent_dim': 2, 'vae.hidden_dims': (8,),
            'progress': False}


def imbalanced(n=(12, 4, 6), length=24, seed=0):
  """Three classes of sizes n: shifted sines with noise; labels as text."""
  rng = np.random.default_rng(seed)
  t = np.linspace(0, 2 * np.pi, length)
  x = np.concatenate([np.sin(t + c) + 0.1 * rng.normal(size=(k, length))
                      for c, k in enumerate(n)]).astype(np.float32)
  y = np.repeat(np.array(['apple', 'kiwi', 'fig'])[:len(n)], n)
  return x, y


@pytest.mark.parametrize('strategy, expected', [
    ('auto', {1: 8, 2: 6}),
    ('not majority', {1: 8, 2: 6}),
    ('minority', {1: 8}),
    ('not minority', {0: 0, 2: 6}),
    ('all', {0: 0, 1: 8, 2: 6}),
    ('per_original', {0: 24, 1: 8, 2: 12}),  # num_samples=2
    ({'kiwi': 10}, {2: 4}),
    (lambda y: {'fig': int((y == 'fig').sum()) + 1}, {1: 1}),
])
def test_targets_read_sampling_strategy_as_imbalanced_learn_does(
    strategy, expected):
  classes = np.array(['apple', 'fig', 'kiwi'])  # sizes 12, 4, 6
  counts = np.array([12, 4, 6])
  assert balance.targets(strategy, counts, classes, num_samples=2) == expected


def test_targets_match_imbalanced_learns_own_reading():
  check = pytest.importorskip('imblearn.utils').check_sampling_strategy
  rng = np.random.default_rng(0)
  for sizes in [(12, 4, 6), (5, 5, 9), (3, 30), (7, 7)]:
    y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    classes, counts = np.unique(y, return_counts=True)
    strategies = ['auto', 'minority', 'not minority', 'not majority', 'all']
    if len(sizes) == 2 and min(sizes) / max(sizes) < 0.5:
      strategies.append(0.5)
    for strategy in strategies:
      theirs = check(strategy, y, 'over-sampling')
      ours = balance.targets(strategy, counts, classes)
      assert {classes[c]: n for c, n in ours.items()} == dict(theirs), (
          sizes, strategy)


@pytest.mark.parametrize('strategy, message', [
    (0.5, r'\(a float\) is for two classes'),
    ({'kiwi': 3}, r'at least the 6 series class .kiwi.'),
    ({'pear': 30}, r"names class 'pear', which y does not hold"),
    ('majority', r"is not one of \['auto'"),
])
def test_a_strategy_that_cannot_work_is_one_clear_error(strategy, message):
  with pytest.raises(ConfigError, match=message):
    balance.targets(strategy, np.array([12, 4, 6]),
                    np.array(['apple', 'fig', 'kiwi']))


@pytest.mark.parametrize('method', [
    'latent', 'latent_class', 'mixup', *transforms.TRANSFORMS,
    'window_warp(window_ratio=0.3)'])
def test_every_method_balances_and_returns_the_originals_first(method):
  x, y = imbalanced()
  s = lsa.Sampler(method, seed=3, vae_config=TINY_VAE)
  x_res, y_res = s.fit_resample(x, y)
  np.testing.assert_array_equal(x_res[:len(x)], x)
  np.testing.assert_array_equal(y_res[:len(y)], y)
  labels, counts = np.unique(y_res, return_counts=True)
  assert dict(zip(labels.tolist(), counts.tolist())) == {
      'apple': 12, 'kiwi': 12, 'fig': 12}
  assert s.sampling_strategy_ == {'fig': 6, 'kiwi': 8}
  assert x_res.dtype == x.dtype and np.isfinite(x_res).all()
  assert (s.vae_ is not None) == (method.startswith('latent'))
  new = x_res[len(x):]
  assert not any(np.isclose(row, x).all(axis=1).any() for row in new)  # new
  # Each new series is drawn from its own class: nearer its class's mean
  # than any other class's (the classes are shifted sines).
  means = {c: x[y == c].mean(axis=0) for c in np.unique(y)}
  nearest = [min(means, key=lambda c: np.linalg.norm(row - means[c]))
             for row in new]
  # (Not for the VAE's methods: a 3-epoch VAE's decodings are blurred
  # towards the overall mean; they take their slots' classes by the same
  # code as the transforms; nor for time warping, which moves the phase
  # that alone tells these classes apart.)
  if not method.startswith(('latent', 'time_warp')):
    assert np.mean(np.array(nearest) == y_res[len(x):]) >= 0.8


def test_same_seed_same_series_and_aeon_shapes_and_any_label_type():
  x, y = imbalanced()
  y_int = np.unique(y, return_inverse=True)[1] * 10 + 7
  a = lsa.Sampler('jitter', seed=1).fit_resample(x[:, None], y_int)
  b = lsa.Sampler('jitter', seed=1).fit_resample(x[:, None], y_int)
  c = lsa.Sampler('jitter', seed=2).fit_resample(x[:, None], y_int)
  assert a[0].shape == (36, 1, 24) and a[1].dtype.kind == 'i'
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.allclose(a[0][len(x):], c[0][len(x):])
  x64, y_bool = x[12:].astype(np.float64), np.arange(10) < 4
  x_res, y_res = lsa.Sampler('scaling', sampling_strategy=1.0).fit_resample(
      x64, y_bool)
  assert x_res.dtype == np.float64 and y_res.dtype == bool
  assert (y_res.sum(), (~y_res).sum()) == (6, 6)


def test_per_original_makes_num_samples_per_series_on_balanced_data():
  x, y = imbalanced(n=(5, 5))
  s = lsa.Sampler('latent(noise=0.3)', sampling_strategy='per_original',
                  num_samples=3, vae_config=TINY_VAE)
  x_res, y_res = s.fit_resample(x, y)
  assert len(x_res) == 10 + 30
  assert (y_res[10:] == 'apple').sum() == 15


def test_latent_class_refusing_every_draw_says_what_to_change():
  x, y = imbalanced()
  s = lsa.Sampler('latent_class(margin=1000)', vae_config=TINY_VAE)
  with pytest.raises(AugmentationError, match='Lower margin'):
    s.fit_resample(x, y)


def test_params_follow_the_scikit_learn_convention():
  s = lsa.Sampler('latent', sampling_strategy='minority', seed=4, noise=0.5)
  assert s.get_params() == dict(method='latent', sampling_strategy='minority',
                                seed=4, vae_config=None, noise=0.5)
  s.set_params(noise=0.2, seed=5)
  assert s.get_params()['noise'] == 0.2 and s.seed == 5
  assert repr(s).startswith("Sampler(method='latent'")
  # A setting the method does not have is refused when it is used.
  with pytest.raises(ConfigError, match="has no setting 'sigma'"):
    lsa.Sampler('latent', sigma=1.0).fit_resample(*imbalanced())
  clone = pytest.importorskip('sklearn.base').clone
  copy = clone(s)
  assert copy is not s and copy.get_params() == s.get_params()


def test_in_a_cross_validated_pipeline_the_vae_never_sees_the_held_out_fold(
    monkeypatch):
  pipeline = pytest.importorskip('imblearn.pipeline')
  linear_model = pytest.importorskip('sklearn.linear_model')
  model_selection = pytest.importorskip('sklearn.model_selection')
  x, y = imbalanced(n=(18, 6), length=16)
  seen = []
  fit_vae = api.fit_vae

  def recording_fit_vae(xs, *args, **kwargs):
    seen.append(np.asarray(xs)[:, 0])
    return fit_vae(xs, *args, **kwargs)
  monkeypatch.setattr(api, 'fit_vae', recording_fit_vae)
  model = pipeline.make_pipeline(
      lsa.Sampler('latent', seed=0, vae_config=TINY_VAE),
      linear_model.LogisticRegression(max_iter=200))
  folds = model_selection.StratifiedKFold(3, shuffle=True, random_state=0)
  scores = model_selection.cross_val_score(model, x, y, cv=folds)
  assert len(scores) == 3 and np.all((0 <= scores) & (scores <= 1))
  assert len(seen) == 3
  for trained_on, (train, test) in zip(seen, folds.split(x, y)):
    np.testing.assert_array_equal(trained_on, x[train])
    assert not any((x[i] == trained_on).all(axis=1).any() for i in test)


def test_readme_resampler_example_runs_as_written(monkeypatch, capsys):
  pytest.importorskip('imblearn')
  from tests import test_api  # pylint: disable=g-import-not-at-top
  x, y = imbalanced(n=(15, 6), length=16)
  vae_config = {'progress': False, **TINY_VAE}
  Sampler = lsa.Sampler  # pylint: disable=invalid-name
  # The README's VAE trains for the default epochs; this one for three.
  monkeypatch.setattr(lsa, 'Sampler', lambda *a, **k: Sampler(
      *a, **dict(k, vae_config=vae_config)))
  namespace = dict(lsa=lsa, d=type('D', (), dict(x_train=x)), labels=y)
  code = test_api.readme_block('### Any classifier: a resampler')
  exec(compile(code, 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  scores = np.array(capsys.readouterr().out.strip(' []\n').split(), float)
  assert len(scores) == 3 and np.all(scores >= 0.5), scores
  assert not hasattr(namespace['model'].steps[0][1], 'vae_')  # fits clones
