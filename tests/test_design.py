"""The structure the design promises (docs/design.md): no import circle and
no import inside a function to dodge one, modules and functions of a
readable size, and every module the design names importable."""

import ast
import glob
import importlib
import os
import re

from tests.conftest import ROOT

PACKAGE = os.path.join(ROOT, 'lstsaug_jax')
# About 450 lines a module, 60 a function; config tables are exempt.
MAX_MODULE_LINES = 460
MAX_FUNCTION_LINES = 60
CONFIG_TABLES = {('defaults.py', 'get_config')}


def modules():
  """{dotted name: (path, its parsed tree)} of the package."""
  found = {}
  for path in sorted(glob.glob(os.path.join(PACKAGE, '**', '*.py'),
                               recursive=True)):
    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
    name = name[:-len('.__init__')] if name.endswith('.__init__') else name
    with open(path) as f:
      found[name] = (path, ast.parse(f.read()))
  return found


def imports(tree, names, top_level=True):
  """The package modules a tree imports (at its top level, or inside its
  functions)."""
  found = set()
  nodes = (tree.body if top_level else
           [n for f in ast.walk(tree)
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)])
  for node in nodes:
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module.startswith('lstsaug_jax')):
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        found.add(full if full in names else node.module)
    elif isinstance(node, ast.Import):
      found.update(a.name for a in node.names
                   if a.name.startswith('lstsaug_jax'))
  return found


def test_no_import_circle_and_none_dodged_inside_a_function():
  mods = modules()
  graph = {m: imports(tree, mods) - {m} for m, (_, tree) in mods.items()}
  inner = {m: imports(tree, mods, top_level=False)
           for m, (_, tree) in mods.items()}
  assert not {m: i for m, i in inner.items() if i}, (
      'package imports inside functions')
  state = {}

  def visit(m, path):
    if state.get(m) == 'done':
      return
    assert state.get(m) != 'open', 'import circle: ' + ' -> '.join(path + [m])
    state[m] = 'open'
    for d in graph.get(m, ()):
      if d in graph:
        visit(d, path + [m])
    state[m] = 'done'

  for m in graph:
    visit(m, [])


def test_modules_and_functions_are_a_readable_size():
  long = []
  for _, (path, tree) in modules().items():
    with open(path) as f:
      lines = len(f.read().splitlines())
    if lines > MAX_MODULE_LINES:
      long.append(f'{os.path.relpath(path, ROOT)}: {lines} lines')
    for node in ast.walk(tree):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        size = node.end_lineno - node.lineno + 1
        if size > MAX_FUNCTION_LINES and (
            os.path.basename(path), node.name) not in CONFIG_TABLES:
          long.append(f'{os.path.relpath(path, ROOT)}:{node.lineno} '
                      f'{node.name}: {size} lines')
  assert not long, long


def test_every_module_the_design_names_imports():
  with open(os.path.join(ROOT, 'docs', 'design.md')) as f:
    text = f.read()
  table = text[text.index('| layer |'):text.index('Where one concept')]
  modules_column = [row.split('|')[2] for row in table.splitlines()[2:]
                    if row.startswith('|')]
  named = set(re.findall(r'`([a-z_]+(?:\.[a-z_]+)*)`',
                         ' '.join(modules_column))) - {'experiments.__main__'}
  mods = {m[len('lstsaug_jax.'):] for m in modules() if '.' in m} - {
      'experiments', 'experiments.__main__'}  # a package, an entry point
  assert named <= mods, f'the design names modules that do not exist: ' \
      f'{sorted(named - mods)}'
  assert mods <= named, (
      f'modules the design does not place: {sorted(mods - named)}')
  for name in sorted(named):
    importlib.import_module(f'lstsaug_jax.{name}')
  # The functions it names as the one place of a concept exist.
  for module, function in re.findall(
      r'`([a-z_]+)\.([a-z_]+[a-zA-Z_]*)`', text[text.index(
          'Where one concept'):text.index('## The path')]):
    if module == 'lsa':  # the API's own names: `import lstsaug_jax as lsa`
      module = 'api'
    assert hasattr(importlib.import_module(f'lstsaug_jax.{module}'),
                   function), f'{module}.{function}'
