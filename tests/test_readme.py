"""The README, the docs (docs/*.md) and the experiment log
(benchmarks/results/README.md) against the repository: the files they name
exist, their links resolve, the results tables say what the summaries they
cite say, every config field is documented with its default, and the
README stays a front page."""

import glob
import json
import os
import re

import pytest

from tests.conftest import ROOT

DOCS = ('README.md', 'benchmarks/results/README.md') + tuple(sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs',
                                                             '*.md'))))
# Folders that commands in the docs write to, not files the repository has.
OUTPUTS = ('benchmarks/out',)


def read(doc):
  with open(os.path.join(ROOT, doc)) as f:
    return f.read()


@pytest.mark.parametrize('doc', DOCS)
def test_every_repository_path_named_exists(doc):
  named = set(re.findall(
      r'(?<![\w./-])((?:benchmarks|configs|lstsaug_jax|tests)/[\w./*-]*[\w/*])',
      read(doc)))
  missing = [p for p in sorted(named) if p not in OUTPUTS
             and not glob.glob(os.path.join(ROOT, p))]
  assert not missing, f'{doc} names paths the repository lacks: {missing}'


@pytest.mark.parametrize('doc', DOCS)
def test_links_and_images_resolve_from_their_file(doc):
  targets = re.findall(r'\]\(([^)#\s]+)\)', read(doc))
  here = os.path.dirname(os.path.join(ROOT, doc))
  broken = [t for t in targets if not t.startswith(('http:', 'https:'))
            and not os.path.exists(os.path.join(here, t))]
  assert not broken, f'{doc} links to files that are not there: {broken}'


def tables(text):
  """Each markdown table in `text`: (the text before it, header, rows)."""
  found = []
  lines = text.split('\n')
  i = 0
  while i < len(lines):
    if lines[i].startswith('|') and i + 1 < len(lines) and \
        lines[i + 1].startswith('|---'):
      cells = lambda line: [c.strip() for c in line.strip('|').split('|')]
      header = cells(lines[i])
      j = i + 2
      rows = []
      while j < len(lines) and lines[j].startswith('|'):
        rows.append(dict(zip(header, cells(lines[j]))))
        j += 1
      found.append(('\n'.join(lines[max(0, i - 6):i]), header, rows))
      i = j
    else:
      i += 1
  return found


def close(printed, value, scale=1.0):
  """`value` * scale rounds to `printed` at the digits printed."""
  printed = printed.strip().lstrip('+')
  decimals = len(printed.split('.')[1]) if '.' in printed else 0
  return abs(float(printed) - value * scale) <= 0.5 * 10**-decimals + 1e-9


def summary_method(summary, label):
  """The summary's method that a README label names: its first code span,
  quotes aside (`latent(mode=online)` is "latent(mode='online')")."""
  code = re.search(r'`([^`]+)`', label)
  name = code.group(1) if code else label.split()[0]
  by_choice = 'by its choices' in label
  for method in summary['methods']:
    if method.replace("'", '') == name or (
        name == 'auto' and method.startswith('auto')
        and method.endswith('by its choices') == by_choice):
      return method
  raise AssertionError(f'no method {name!r} in the summary')


def results_section():
  return read('docs/results.md')


def test_readme_results_tables_match_the_summaries_they_cite():
  checked = 0
  for before, header, rows in tables(results_section()):
    if 'W / T / L' not in header:
      continue
    cited = re.findall(r'`(benchmarks/results/[\w/]+/)`', before)
    for row in rows:
      folder = ('benchmarks/results/' + row['folder in `benchmarks/results/`']
                .strip('`')) if 'folder in `benchmarks/results/`' in row \
          else cited[-1]
      with open(os.path.join(ROOT, folder, 'summary.json')) as f:
        summary = json.load(f)
      label = row.get('method')
      if label == 'baseline':
        overall = summary['overall']['baseline']
        assert close(row['mean'], overall['mean_accuracy'])
        assert close(row['mean rank (of 12)'], overall['mean_rank'])
        continue
      method = summary_method(summary, label)
      vs = summary['vs_baseline'][method]
      overall = summary['overall'][method]
      what = f'{label} in {folder}'
      assert row['W / T / L'] == (
          f"{vs['wins']} / {vs['ties']} / {vs['losses']}"), what
      assert close(row['Wilcoxon p'], vs['wilcoxon_p']), what
      assert close(row['Holm p'], vs['wilcoxon_p_holm']), what
      mean, low, high = re.match(
          r'([-+\d.]+) \[([-+\d.]+), ([-+\d.]+)\]',
          row['difference [95% interval]']).groups()
      difference = vs['difference']
      assert close(mean, difference['mean'], 100), what
      assert close(low, difference['ci'][0], 100), what
      assert close(high, difference['ci'][1], 100), what
      for column, value in (
          ('datasets', vs['datasets']),
          ('baseline on them', vs['baseline_mean_accuracy']),
          ('baseline', vs['baseline_mean_accuracy']),
          ("method's mean", vs['mean_accuracy'])):
        if column in row:
          assert close(row[column], value), (what, column)
      if 'mean' in row:
        # Over the datasets both have where the table says how many.
        assert close(row['mean'], vs['mean_accuracy'] if 'datasets' in row
                     else overall['mean_accuracy']), what
      for column in row:
        if column.startswith('mean rank'):
          assert close(row[column], overall['mean_rank']), what
      checked += 1
  assert checked >= 20


RESAMPLERS = ('class_weight', 'ros', 'smote', 'adasyn')


def same_p(printed, value):
  """A p value printed to its significant digits ('0.041', '1e-05')."""
  if printed == '-':
    return value is None
  digits = len(re.sub(r'^[0.]*', '', printed.split('e')[0].replace('.', '')))
  return float(printed) == float(f'{value:.{max(digits, 1)}g}')


def same_gain(cell, row):
  """'+0.69 [+0.1, +1.3], p 0.13' against a map.json comparison (the gain
  and interval in points, the Holm-adjusted p)."""
  mean, low, high, p = re.fullmatch(
      r'([-+\d.]+) \[([-+\d.]+), ([-+\d.]+)\], p (\S+)', cell).groups()
  return (close(mean, row['mean'], 100) and close(low, row['ci'][0], 100)
          and close(high, row['ci'][1], 100) and same_p(p, row['holm_p']))


def map_entry(rows, column):
  """The map's method that a column names: `latent` is latent(...)."""
  name = re.search(r'`([^`(]+)', column).group(1)
  found = [m for m in rows if m.split('(')[0] == name]
  assert len(found) == 1, (column, sorted(rows))
  return rows[found[0]]


def test_the_map_tables_match_the_maps_they_cite():
  checked = 0
  for before, header, rows in tables(results_section()):
    if 'regime' not in header or 'best baseline' not in header:
      continue
    folder = re.findall(r'`(benchmarks/results/map/[\w/]+/)`', before)[-1]
    with open(os.path.join(ROOT, folder, 'map.json')) as f:
      regimes = json.load(f)['regimes']
    for row in rows:
      what = f'{row["regime"]} in {folder}'
      vs_none = regimes[row['regime']]['vs_none']
      first = next(iter(vs_none.values()))
      assert row['datasets'] == str(first['datasets']), what
      assert close(row['none'], first['reference_mean']), what
      base = [b for b in RESAMPLERS if b in vs_none]
      if base:
        best = max(base, key=lambda b: vs_none[b]['mean'])
        name, cell = row['best baseline'].split(' ', 1)
        assert name == f'`{best}`', what
        assert same_gain(cell, vs_none[best]), what
      else:
        assert row['best baseline'] == '-', what
      for column in header:
        if column.startswith('`') and ' vs ' not in column:
          assert same_gain(row[column], map_entry(vs_none, column)), (
              what, column)
        elif column.endswith('vs SMOTE'):
          vs_smote = regimes[row['regime']].get('vs_smote')
          assert (row[column] == '-' if not vs_smote else same_gain(
              row[column], map_entry(vs_smote, column))), (what, column)
      checked += 1
  assert checked >= 10


def headings(doc):
  return {line.lstrip('#').strip() for line in read(doc).split('\n')
          if line.startswith('#')}


def test_every_section_the_code_points_to_exists():
  """Messages and comments that send the reader to a section (README
  "Your own data", docs/configuration.md "Config fields") name one the
  document has."""
  sources = [p for pattern in ('lstsaug_jax/**/*.py', 'configs/**/*.py',
                               'benchmarks/*.py', 'benchmarks/*.sh',
                               'tests/*.py')
             for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)]
  missing, found = [], 0
  for path in sources:
    with open(path) as f:
      # A reference may run over a comment's or a string's line break.
      text = re.sub(r"""['"]\n\s*f?['"]""", '', f.read())  # 'a' 'b'
      text = re.sub(r'\n\s*(#\s*)?', ' ', text)  # comments, docstrings
    for doc, section in re.findall(
        r'(README|docs/[\w-]+\.md) "([^"\n]+)"', text):
      found += 1
      doc = 'README.md' if doc == 'README' else doc
      if section not in headings(doc):
        missing.append(f'{os.path.relpath(path, ROOT)}: {doc} "{section}"')
  assert not missing, missing
  assert found >= 5


def test_the_pattern_finds_paths_at_all():
  assert len(re.findall(r'benchmarks/results/[\w/]+', read(
      'docs/results.md'))) > 10


def test_the_front_page_is_short_and_speaks_to_users():
  readme = read('README.md')
  assert len(readme.splitlines()) <= 250
  for doc in ('README.md',) + tuple(d for d in DOCS if d.startswith('docs')):
    text = read(doc)
    for phrase in ('../shared', 'this session', 'issue 1', 'issue 2',
                   'issue 9', "issue's"):
      assert phrase not in text.lower(), (doc, phrase)


def documented_fields():
  """{field: its 'default' cell} of docs/configuration.md's table (a row
  may document several fields, its defaults comma-separated)."""
  text = read('docs/configuration.md')
  found = {}
  for _, header, rows in tables(text):
    if header[:1] != ['field']:
      continue
    for row in rows:
      names = re.findall(r'`([\w.]+)`', row['field'])
      for name in names:
        found[name] = row['default']
  return found


def test_every_config_field_is_documented_with_its_default():
  from lstsaug_jax import configuration  # pylint: disable=g-import-not-at-top
  from lstsaug_jax.experiments import defaults  # pylint: disable=g-import-not-at-top
  fields = configuration.flatten(defaults.get_config())
  documented = documented_fields()
  assert not set(fields) - set(documented), sorted(set(fields) - set(documented))
  assert not set(documented) - set(fields), sorted(set(documented) - set(fields))
  for name, value in fields.items():
    cell = documented[name].replace('`', '')
    if isinstance(value, bool) and ',' not in cell:
      assert cell.split(' ')[0] == str(value), (name, cell, value)
    elif isinstance(value, (int, float)) and ',' not in cell:
      assert float(cell.split(' ')[0]) == float(value), (name, cell, value)
    elif isinstance(value, str) and value and ',' not in cell:
      assert value in cell, (name, cell, value)

