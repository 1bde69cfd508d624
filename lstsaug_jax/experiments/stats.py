"""Statistics for comparing methods over datasets: pure functions of
per-dataset accuracies, no files, no tables.

- One rule for a tie: two accuracies closer than TIE are equal, in the
  wins / ties / losses and in the Wilcoxon test alike (such differences are
  set to exactly zero before the test).
- The Wilcoxon signed-rank test is two-sided with zero differences split
  between the signs (zero_method='zsplit', Demsar 2006), and its p value
  is exact: the null distribution of the rank sum, conditional on the
  observed ranks (ties and zeros included), computed by dynamic
  programming. scipy's wilcoxon switches between an exact table (wrong
  with ties or zeros), permutations and the normal approximation by its
  version and the sample, so the same data gave different p values
  under the versions requirements.txt allows; this rule does not depend
  on it (tests/test_experiments_stats.py checks it against scipy's
  exhaustive permutation test and its exact table).
- A family of comparisons against one baseline is corrected with Holm's
  step-down method; "significant" means a Holm-adjusted p below 0.05.
- Friedman's test (with the Iman-Davenport F) is the omnibus test over all
  methods; the critical-difference diagram's cliques join methods that no
  Wilcoxon-Holm test over all pairs separates (Benavoli et al. 2016; the
  diagrams of Ismail Fawaz et al. 2019 and aeon's
  plot_critical_difference), with Nemenyi's critical difference kept as a
  figure for reference.
"""

import itertools

import numpy as np
from scipy import stats

# Accuracies closer than this are a tie (they are multiples of 1/n_test).
TIE = 1e-9
ALPHA = 0.05


def differences(a, b):
  """a - b with the ties (|d| <= TIE) set to exactly zero."""
  d = np.asarray(a, float) - np.asarray(b, float)
  return np.where(np.abs(d) <= TIE, 0.0, d)


def _tie_merged(values):
  """values with those within TIE of their neighbour in sorted order set
  equal, so ranking gives them their average rank."""
  values = np.asarray(values, float)
  order = np.argsort(values, kind='stable')
  merged = values.copy()
  for a, b in zip(order, order[1:]):
    if abs(merged[a] - values[b]) <= TIE:
      merged[b] = merged[a]
  return merged


def wilcoxon_p(a, b):
  """Two-sided Wilcoxon signed-rank p over paired per-dataset accuracies
  (zsplit, exact conditional distribution; see the module's docstring);
  1 when every pair ties, NaN for no pairs."""
  d = differences(a, b)
  if len(d) == 0:
    return float('nan')
  if not np.any(d):
    return 1.0
  # Ranks are multiples of 0.5: in units of a half rank they are whole.
  half_ranks = np.rint(2 * stats.rankdata(_tie_merged(np.abs(d)))).astype(
      int)
  signed = half_ranks[d != 0]  # zeros add the same to T+ and T-
  observed = int(signed[d[d != 0] > 0].sum())
  # P(sum of a random subset of `signed` = s), each in with probability 1/2.
  dist = np.zeros(int(signed.sum()) + 1)
  dist[0] = 1.0
  for r in signed:
    dist[r:] = 0.5 * dist[r:] + 0.5 * dist[:-r].copy() if r else dist[r:]
    dist[:r] *= 0.5
  centre = signed.sum() / 2
  extreme = np.abs(np.arange(len(dist)) - centre) >= abs(observed - centre)
  return float(min(1.0, dist[extreme].sum()))


def wins_ties_losses(a, b):
  d = differences(a, b)
  return dict(wins=int(np.sum(d > 0)), ties=int(np.sum(d == 0)),
              losses=int(np.sum(d < 0)))


def against_baseline(accuracies, baseline):
  """Wins, ties and losses and the (raw) Wilcoxon p of a method's mean
  accuracies against the baseline's on the same datasets."""
  return dict(wins_ties_losses(accuracies, baseline),
              wilcoxon_p=wilcoxon_p(accuracies, baseline))


def holm(p_values):
  """Holm's step-down adjustment of a family of p values (NaN stays NaN
  and is not counted in the family)."""
  p = np.asarray(p_values, float)
  out = np.full(p.shape, np.nan)
  valid = np.flatnonzero(~np.isnan(p))
  m = len(valid)
  running = 0.0
  for rank, i in enumerate(valid[np.argsort(p[valid], kind='stable')]):
    running = max(running, min(1.0, (m - rank) * p[i]))
    out[i] = running
  return out.tolist()


def ranks(table):
  """Per dataset (row), the rank of each method (column), 1 = highest
  accuracy; accuracies within TIE share their average rank."""
  table = np.asarray(table, float)
  return np.array([stats.rankdata(-_tie_merged(row)) for row in table]
                  ).reshape(table.shape)


def friedman(table):
  """Friedman's test over a (datasets, methods) table of accuracies: its
  chi-square (with scipy's tie correction), p, and the Iman-Davenport F
  and its p; None with fewer than 3 methods or 2 datasets."""
  table = np.asarray(table, float)
  n, k = table.shape
  if k < 3 or n < 2:
    return None
  r = ranks(table)
  if np.all(r == r[:, :1]):  # every dataset ties every method
    return dict(chi2=0.0, p=1.0, iman_davenport_f=0.0,
                iman_davenport_p=1.0, datasets=n, methods=k)
  chi2, p = stats.friedmanchisquare(*(-r).T)
  denominator = n * (k - 1) - chi2
  f = (n - 1) * chi2 / denominator if denominator > 0 else float('inf')
  f_p = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if np.isfinite(
      f) else 0.0
  return dict(chi2=float(chi2), p=float(p), iman_davenport_f=float(f),
              iman_davenport_p=f_p, datasets=n, methods=k)


def pairwise_wilcoxon_holm(table, labels):
  """Every pair of methods (columns) by the Wilcoxon test, Holm-adjusted
  over all pairs: {(a, b): dict(p, p_holm)}."""
  pairs = list(itertools.combinations(range(len(labels)), 2))
  raw = [wilcoxon_p(table[:, i], table[:, j]) for i, j in pairs]
  adjusted = holm(raw)
  return {(labels[i], labels[j]): dict(p=p, p_holm=q)
          for (i, j), p, q in zip(pairs, raw, adjusted)}


def cliques(mean_ranks, pairwise, alpha=ALPHA):
  """The critical-difference diagram's bars: maximal runs of methods,
  consecutive in mean-rank order, of which no pair differs at alpha by
  the pairwise Wilcoxon-Holm test. Returns lists of labels (best first),
  only runs of two or more."""
  order = sorted(mean_ranks, key=lambda m: mean_ranks[m])

  def same(a, b):
    pair = pairwise.get((a, b)) or pairwise.get((b, a))
    return pair['p_holm'] >= alpha

  runs = []
  for i in range(len(order)):
    j = i
    while j + 1 < len(order) and all(same(order[a], order[j + 1])
                                     for a in range(i, j + 1)):
      j += 1
    if j > i:
      runs.append(order[i:j + 1])
  # Keep the maximal runs only (a run inside another is implied by it).
  return [r for r in runs if not any(set(r) < set(o) for o in runs)]


def critical_difference(num_methods, num_datasets, alpha=ALPHA):
  """Nemenyi's critical difference of mean ranks (Demsar 2006): two methods
  whose mean ranks differ by less are not distinguishable at `alpha`."""
  if num_methods < 2 or num_datasets < 1:
    return float('nan')
  q = stats.studentized_range.ppf(1 - alpha, num_methods, np.inf) / np.sqrt(2)
  return float(q * np.sqrt(num_methods * (num_methods + 1)
                            / (6.0 * num_datasets)))


def rank_correlation(a, b):
  """Spearman's r and its p over paired values, as {'r', 'p'}; None with
  fewer than 3 pairs or when either side is constant (no ranking)."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  if len(a) < 3 or np.ptp(a) <= TIE or np.ptp(b) <= TIE:
    return None
  r = stats.spearmanr(a, b)
  return dict(r=float(r.statistic), p=float(r.pvalue))


def difference_from_baseline(method, baseline, level=0.95, power=0.8):
  """How closely the datasets pin down a method's mean accuracy difference
  from the baseline (method minus baseline), and how large a difference
  they could show at all.

  method, baseline: per dataset, {seed: accuracy}, the same datasets in
  the same order. Returns a dict:
    mean: the mean over datasets of the difference of seed means;
    ci: a t interval at `level` over datasets (the datasets are the
      sample; seeds are inside each dataset's mean);
    seed_noise: the standard error that seed noise alone puts on `mean`,
      from the spread over seeds of each dataset's paired difference (a
      seed gives both arms the same initial weights and keys). Near the
      interval's own standard error, the datasets' differences are mostly
      seed noise and more seeds narrow it; far below, the method's effect
      differs between datasets and only more datasets do;
    detectable: the smallest true mean difference that a two-sided paired
      t test over these datasets at 0.05 finds with probability `power`,
      given the spread of the per-dataset differences (the usual normal
      approximation to the noncentral t);
    between_datasets: how much the method's true effect differs between
      datasets, as a standard deviation: the variance of the per-dataset
      differences less the part seed noise alone explains (the mean of
      each dataset's paired variance over its seeds divided by their
      number), 0 when seed noise explains it all. Anything that chooses
      the method per dataset (auto, a rule over dataset properties) has
      at most this much to find;
    split_half: whether the per-dataset differences repeat on other
      seeds: Spearman's r (and p) between each dataset's mean paired
      difference on the first half of the seeds both arms ran (in seed
      order) and on the rest, over the datasets with two such seeds or
      more (None with fewer than 3, or when either half is constant).
  Fields that need two datasets (or two seeds both arms ran) are None
  without them.
  """
  d = np.array([np.mean(list(m.values())) - np.mean(list(b.values()))
                for m, b in zip(method, baseline)])
  n = len(d)
  out = dict(mean=float(d.mean()) if n else None, ci=None, se=None,
             seed_noise=None, detectable=None, between_datasets=None,
             split_half=None)
  if n >= 2:
    se = float(d.std(ddof=1)) / np.sqrt(n)
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    out.update(ci=[float(d.mean() - t * se), float(d.mean() + t * se)],
               se=se, detectable=float(
                   (stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1))
                   * se))
  out.update(_seed_noise(method, baseline, d))
  return out


def _seed_noise(method, baseline, d):
  """difference_from_baseline's seed_noise, between_datasets and
  split_half, from the seeds both arms ran (paired)."""
  out = {}
  n = len(d)
  paired = [[m[k] - b[k] for k in sorted(m, key=int) if k in b]
            for m, b in zip(method, baseline)]
  if n and all(len(p) >= 2 for p in paired):
    noise = [np.var(p, ddof=1) / len(p) for p in paired]
    out['seed_noise'] = float(np.sqrt(sum(noise)) / n)
    if n >= 2:
      out['between_datasets'] = float(np.sqrt(max(
          0.0, d.var(ddof=1) - np.mean(noise))))
  halves = [(np.mean(p[:len(p) // 2]), np.mean(p[len(p) // 2:]))
            for p in paired if len(p) >= 2]
  agreement = rank_correlation(*np.array(halves).reshape(-1, 2).T)
  if agreement:
    out['split_half'] = dict(agreement, datasets=len(halves))
  return out
