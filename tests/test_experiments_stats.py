"""The statistics of method comparisons, each against a hand computation, a
brute-force enumeration or scipy's own reference."""

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lstsaug_jax.experiments import stats


def brute_force_wilcoxon(d):
  """The two-sided exact conditional Wilcoxon p with zeros split, by
  enumerating every sign of the nonzero differences (zeros add the same
  half ranks to both sums, so the centred T+ ignores them)."""
  d = np.asarray(d, float)
  ranks = scipy_stats.rankdata(np.abs(d))
  nonzero = ranks[d != 0]
  observed = nonzero[d[d != 0] > 0].sum()
  centre = nonzero.sum() / 2
  hits = 0
  for signs in itertools.product((0, 1), repeat=len(nonzero)):
    t = float(np.dot(signs, nonzero))
    hits += abs(t - centre) >= abs(observed - centre) - 1e-12
  return hits / 2 ** len(nonzero)


def test_wilcoxon_with_zeros_and_ties_is_the_exact_conditional_test():
  # Twelve datasets, six of them ties (the case whose p used to depend on
  # scipy's version: 0.50, 0.43 or 0.47), and tied nonzero differences.
  baseline = np.full(12, 0.8)
  method = baseline + np.array([0, 0, 0, 0, 0, 0, .02, .02, -.01, .03,
                                -.02, .04])
  p = stats.wilcoxon_p(method, baseline)
  assert p == pytest.approx(brute_force_wilcoxon(method - baseline), abs=1e-12)
  # Ranks of |d|: six zeros 1-6, then 0.01: 7, the three 0.02s: 9, 0.03:
  # 11, 0.04: 12. T+ = 9 + 9 + 11 + 12 = 41 about a centre of 28.5; 20 of
  # the 64 sign patterns are as far out.
  assert p == pytest.approx(20 / 64)
  rng = np.random.default_rng(0)
  for _ in range(50):
    a = rng.integers(0, 5, size=rng.integers(3, 12)).astype(float)
    b = rng.integers(0, 5, size=len(a)).astype(float)
    if np.any(a != b):
      assert stats.wilcoxon_p(a, b) == pytest.approx(
          brute_force_wilcoxon(a - b), abs=1e-12)


def test_wilcoxon_without_ties_is_scipys_exact_test():
  rng = np.random.default_rng(1)
  for n in (5, 14, 26):
    a, b = rng.normal(size=n), rng.normal(size=n)
    assert stats.wilcoxon_p(a, b) == pytest.approx(
        scipy_stats.wilcoxon(a, b, method='exact').pvalue, abs=1e-12)


def test_one_tie_rule_for_wins_ties_losses_and_the_test():
  a = np.array([0.9, 0.8, 0.7, 0.6])
  b = a + np.array([1e-12, -1e-12, 0.0, 0.0])  # rounding, not a difference
  assert stats.against_baseline(a, b) == dict(wins=0, ties=4, losses=0,
                                              wilcoxon_p=1.0)
  c = a + np.array([1e-12, 0.05, 0.05, -0.02])
  result = stats.against_baseline(c, a)
  assert (result['wins'], result['ties'], result['losses']) == (2, 1, 1)
  assert result['wilcoxon_p'] == pytest.approx(
      brute_force_wilcoxon([0.0, 0.05, 0.05, -0.02]))


def test_holm_by_hand():
  # Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 =
  # 0.04, raised to the running maximum 0.06.
  assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx(
      [0.03, 0.06, 0.06, 0.02])
  assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
  out = stats.holm([0.02, float('nan'), 0.04])
  assert out[0] == pytest.approx(0.04) and np.isnan(out[1])
  # The README's case: p 0.0093 among ten comparisons.
  assert stats.holm([0.0093] + [0.5] * 9)[0] == pytest.approx(0.093)


def test_friedman_by_hand():
  # Five datasets, three methods; ranks (1 = best) per dataset:
  # A 1,1,1,2,1  B 2,3,2,1,2  C 3,2,3,3,3 -> sums 6, 10, 14.
  table = np.array([[.9, .8, .7], [.9, .7, .8], [.9, .8, .7], [.8, .9, .7],
                    [.9, .8, .7]])
  result = stats.friedman(table)
  n, k = 5, 3
  chi2 = 12 * n / (k * (k + 1)) * (sum((s / n) ** 2 for s in (6, 10, 14))
                                   - k * (k + 1) ** 2 / 4)
  assert chi2 == pytest.approx(6.4)
  assert result['chi2'] == pytest.approx(chi2)
  assert result['p'] == pytest.approx(np.exp(-chi2 / 2))  # chi2, 2 df
  f = (n - 1) * chi2 / (n * (k - 1) - chi2)
  assert result['iman_davenport_f'] == pytest.approx(f)
  assert result['iman_davenport_p'] == pytest.approx(
      scipy_stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
  assert stats.friedman(table[:, :2]) is None  # two methods: Wilcoxon


def brute_force_cliques(order, different):
  """Maximal runs of consecutive methods with no pair `different`."""
  runs = [order[i:j + 1] for i in range(len(order))
          for j in range(i + 1, len(order))
          if not any(different(a, b) for a, b in itertools.combinations(
              order[i:j + 1], 2))]
  return [r for r in runs if not any(set(r) < set(o) for o in runs)]


def test_cliques_join_methods_no_pairwise_test_separates():
  ranks = dict(a=1.2, b=1.9, c=2.8, d=3.1, e=4.5)
  significant = {('a', 'c'), ('a', 'd'), ('a', 'e'), ('b', 'e'), ('c', 'e')}
  pairwise = {pair: dict(p_holm=0.01 if pair in significant else 0.4)
              for pair in itertools.combinations('abcde', 2)}
  found = stats.cliques(ranks, pairwise)
  assert found == [['a', 'b'], ['b', 'c', 'd'], ['d', 'e']]
  rng = np.random.default_rng(2)
  labels = list('abcdefg')
  for _ in range(30):
    significant = {p for p in itertools.combinations(labels, 2)
                   if rng.random() < 0.4}
    pairwise = {p: dict(p_holm=0.01 if p in significant else 0.5)
                for p in itertools.combinations(labels, 2)}
    different = lambda x, y: (x, y) in significant or (y, x) in significant
    assert stats.cliques({m: i for i, m in enumerate(labels)}, pairwise) == (
        brute_force_cliques(labels, different))


def test_pairwise_tests_are_holm_adjusted_over_all_pairs():
  rng = np.random.default_rng(3)
  table = rng.normal(size=(10, 3)) + [0.0, 0.3, 1.0]
  pairwise = stats.pairwise_wilcoxon_holm(table, ['x', 'y', 'z'])
  raw = [stats.wilcoxon_p(table[:, i], table[:, j])
         for i, j in ((0, 1), (0, 2), (1, 2))]
  assert [v['p'] for v in pairwise.values()] == pytest.approx(raw)
  assert [v['p_holm'] for v in pairwise.values()] == pytest.approx(
      stats.holm(raw))


def test_nemenyi_critical_difference_matches_demsars_table():
  # Demsar 2006, Table 5(a): q_0.05 = 2.343 for k = 3, 2.569 for k = 4.
  for k, q in ((3, 2.343), (4, 2.569)):
    assert stats.critical_difference(k, 10) == pytest.approx(
        q * np.sqrt(k * (k + 1) / 60), rel=1e-3)


# Darwin's Zea mays data (Fisher, The Design of Experiments, 1935): height
# differences of 15 cross- and self-fertilised pairs, in eighths of an inch.
DARWIN = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75])


def test_wilcoxon_matches_the_exact_null_distribution():
  # Enumerate all 2^15 sign patterns of the ranks: the exact two-sided p.
  ranks = np.argsort(np.argsort(np.abs(DARWIN))) + 1
  w_plus = ranks[DARWIN > 0].sum()
  observed = min(w_plus, ranks.sum() - w_plus)
  sums = np.array([np.dot(signs, ranks) for signs in
                   itertools.product((0, 1), repeat=len(ranks))])
  exact = min(1.0, 2 * np.mean(sums <= observed))
  assert observed == 24
  assert exact == pytest.approx(0.04126, abs=1e-5)
  zeros = np.zeros_like(DARWIN, dtype=float)
  assert stats.wilcoxon_p(DARWIN.astype(float), zeros) == pytest.approx(
      exact, rel=1e-9)
  assert stats.wilcoxon_p(zeros, DARWIN.astype(float)) == pytest.approx(
      exact, rel=1e-9)
  assert stats.wilcoxon_p([0.9, 0.8], [0.9, 0.8]) == 1.0


def test_difference_interval_seed_noise_and_detectable_difference():
  seeds = lambda *accs: dict(enumerate(accs))
  method = [seeds(0.90, 0.92, 0.88), seeds(0.80, 0.82, 0.78),
            seeds(0.70, 0.70, 0.70)]
  baseline = [seeds(0.88, 0.89, 0.87), seeds(0.81, 0.81, 0.81),
              seeds(0.66, 0.63, 0.69)]
  diff = stats.difference_from_baseline(method, baseline)
  d = np.array([0.02, -0.01, 0.04])  # differences of the seed means
  assert diff['mean'] == pytest.approx(d.mean())
  assert diff['se'] == pytest.approx(0.0145297, abs=1e-7)
  # t(0.975, 2 df) = 4.3027: by hand, and as scipy's one-sample t test
  # computes it.
  assert diff['ci'] == pytest.approx([-0.045850, 0.079183], abs=1e-6)
  assert diff['ci'] == pytest.approx(
      list(scipy_stats.ttest_1samp(d, 0).confidence_interval(0.95)))
  # (t(0.975, 2) + t(0.8, 2)) * se = (4.3027 + 1.0607) * 0.0145297.
  assert diff['detectable'] == pytest.approx(0.077927, abs=1e-6)
  # Paired differences per seed: [.02 .03 .01], [-.01 .01 -.03],
  # [.04 .07 .01]; variances 1e-4, 4e-4, 9e-4, each over 3 seeds; the
  # mean over 3 datasets: sqrt(1.4e-3 / 3) / 3.
  assert diff['seed_noise'] == pytest.approx(np.sqrt(1.4e-3 / 3) / 3)
  # The seeds are paired: D1's baseline accuracies under other seeds give
  # other differences.
  shuffled = [seeds(0.87, 0.88, 0.89), baseline[1], baseline[2]]
  assert stats.difference_from_baseline(method, shuffled)[
      'seed_noise'] != pytest.approx(diff['seed_noise'])
  # Only the seeds both arms ran are paired; one such seed is too few.
  partial = stats.difference_from_baseline(
      [{0: 0.9, 1: 0.8}] * 2, [{0: 0.8, 1: 0.8, 2: 0.5}] * 2)
  assert partial['seed_noise'] == pytest.approx(
      np.sqrt(2 * np.var([0.1, 0.0], ddof=1) / 2) / 2)
  one_seed = stats.difference_from_baseline([{0: 0.9}] * 2,
                                                [{0: 0.8}] * 2)
  assert one_seed['seed_noise'] is None and one_seed['ci'] is not None
  one_dataset = stats.difference_from_baseline(method[:1], baseline[:1])
  assert one_dataset['ci'] is None and one_dataset['detectable'] is None
  assert one_dataset['mean'] == pytest.approx(0.02)


def test_between_dataset_spread_and_split_half():
  # Paired differences (method - baseline) per seed, seeds as the CSV
  # gives them (strings; 9 comes before 10): D1 .02, .04; D2 -.01, .01;
  # D3 .06, .06.
  paired = [{'9': 0.02, '10': 0.04}, {'9': -0.01, '10': 0.01},
            {'9': 0.06, '10': 0.06}]
  baseline = [{s: 0.8 for s in p} for p in paired]
  method = [{s: 0.8 + p[s] for s in p} for p in paired]
  diff = stats.difference_from_baseline(method, baseline)
  # Dataset means .03, 0, .06: variance 9e-4; seed noise per dataset mean
  # 1e-4, 1e-4, 0.
  assert diff['between_datasets'] == pytest.approx(np.sqrt(9e-4 - 2e-4 / 3))
  # First halves .02, -.01, .06 and second halves .04, .01, .06 rank alike.
  assert diff['split_half']['r'] == pytest.approx(1.0)
  assert diff['split_half']['datasets'] == 3
  # Differences that flip sign between the halves: the same datasets rank
  # the other way round, and none of the spread between their means is
  # more than seed noise.
  flips = [{0: u, 1: u, 2: -u, 3: -u} for u in (0.01, 0.02, 0.05, 0.03)]
  diff = stats.difference_from_baseline(
      [{s: 0.5 + p[s] for s in p} for p in flips],
      [{s: 0.5 for s in p} for p in flips])
  assert diff['split_half']['r'] == pytest.approx(-1.0)
  assert diff['between_datasets'] == 0.0
  # A method whose effect differs by dataset and not by seed: all of the
  # spread is between datasets.
  effects = np.array([0.05, -0.02, 0.01, 0.03])
  diff = stats.difference_from_baseline(
      [{s: 0.7 + e for s in range(3)} for e in effects],
      [{s: 0.7 for s in range(3)} for _ in effects])
  assert diff['seed_noise'] == pytest.approx(0.0, abs=1e-12)
  assert diff['between_datasets'] == pytest.approx(effects.std(ddof=1))
  assert diff['split_half']['r'] == pytest.approx(1.0)
  # One seed per dataset: neither can be estimated.
  one = stats.difference_from_baseline([{0: 0.9}] * 3, [{0: 0.8}] * 3)
  assert one['between_datasets'] is None and one['split_half'] is None
