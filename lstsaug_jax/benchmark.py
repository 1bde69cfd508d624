"""Speed against the hardware: `python -m lstsaug_jax.benchmark --json=PATH`.

Prints, for the VAE and both ResNets, the training-step time (median after
warm-up), series per second, FLOPs per step from XLA's cost analysis,
achieved GFLOP/s and its ratio to a float32 matmul peak measured in the same
run on the same device; compile times; seeds scaling (time per seed); and
the default GunPoint pipeline end to end. Flags select a subset.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

# The end-to-end runs are child processes on the same accelerator: with
# JAX's default preallocation (75% of its memory) held here, a child ran
# out of GPU memory loading its cached programs (H100).
os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import cli
from lstsaug_jax import files
from lstsaug_jax import models
from lstsaug_jax import reporting
from lstsaug_jax import specs
from lstsaug_jax import train

_MODELS = flags.DEFINE_list('models', ['vae', 'resnet_lstsaug', 'resnet_wang'],
                            'Models to time.')
_LENGTHS = flags.DEFINE_list('lengths', ['150', '398'], 'Series lengths.')
_BATCH = flags.DEFINE_integer('batch_size', 64, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed repeats (median).')
_SEEDS = flags.DEFINE_list('seeds', ['1', '2', '4', '8'],
                           'Seed counts for the scaling table ([] to skip).')
_SEEDS_MODEL = flags.DEFINE_string('seeds_model', 'resnet_lstsaug',
                                   'Model of the seeds scaling table.')
_SEEDS_LENGTH = flags.DEFINE_integer('seeds_length', 150,
                                     'Length of the seeds scaling table.')
_E2E = flags.DEFINE_list('end_to_end_seeds', ['1'],
                         'Run the GunPoint default pipeline with these '
                         'num_seeds values ([] to skip).')
_E2E_EPOCHS = flags.DEFINE_integer('end_to_end_epochs', 400,
                                   'Epochs of the end-to-end run.')
_DATA_DIR = cli.data_dir_flag()
_MATMUL_N = flags.DEFINE_integer('matmul_n', 0,
                                 'Matmul size for the peak (0: by device).')
_CONV_IMPL = flags.DEFINE_enum('conv_impl', 'auto', ['auto', 'matmul', 'xla'],
                               'ResNet convolutions (config.classifier.'
                               'conv_impl).')
_ONLINE = flags.DEFINE_list(
    'online', ['window_warp', 'latent', 'latent_class'],
    'Methods timed on the fly (an epoch with fresh synthetic series in '
    'every batch) against the same epoch without them; empty: skip.')
_ONLINE_SHAPES = flags.DEFINE_list(
    'online_shapes', ['50x150/8', '300x150/64'],
    'Training sets of the on-the-fly table, as NxLENGTH/BATCH.')
_TORCH_PYTHON = flags.DEFINE_string(
    'torch_python', None,
    'A Python with PyTorch (benchmarks/requirements-torch.txt): times the '
    'same training steps in PyTorch eager (benchmarks/torch_reference.py) '
    'in this run, beside ours.')
_JSON = flags.DEFINE_string('json', None, 'Write every figure here.')


def median_time(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def compiled_flops(compiled):
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', float('nan'))) if cost else float('nan')


def cost_flops(fn, *args, compiled=None):
  """XLA's FLOP count of fn(*args), from the program compiled for the CPU.

  A GPU backend turns convolutions and dots into library calls that its
  cost analysis does not count, so every device is credited with the FLOPs
  XLA:CPU counts for the same program (on a CPU, `compiled` is that program).
  """
  if compiled is not None and jax.default_backend() == 'cpu':
    return compiled_flops(compiled)
  cpu = jax.devices('cpu')[0]
  return compiled_flops(
      jax.jit(fn).lower(*jax.device_put(args, cpu)).compile())


def matmul_peak(n, repeats):
  """float32 GFLOP/s of an n x n matmul, XLA's own count of its FLOPs."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  compiled = jax.jit(jnp.matmul).lower(a, b).compile()
  jax.block_until_ready(compiled(a, b))
  t = median_time(lambda: compiled(a, b), repeats)
  flops = cost_flops(jnp.matmul, a, b, compiled=compiled)
  return dict(n=n, seconds=t, flops=flops, gflops=flops / t / 1e9)


def make_step(model_name, length, batch, num_seeds=1):
  """A compiled one-step epoch (the training data is one batch) of K seeds."""
  x = jax.random.normal(jax.random.PRNGKey(0), (batch, length))
  y = jnp.arange(batch) % 2
  keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
  if model_name == 'vae':
    x = x[:, None, :]  # (batch, channels, length)
    model = models.VAE(series_length=length, num_classes=2)
    tx = train.create_optimizer(1e-3, 1, 0.1, 150)
    states = train.init_states(model, tx, keys, lambda k: (x[:1], k))
    step = train.vae_train_step
    unroll = 1
  else:
    conv_impl, unroll = train.conv_plan(_CONV_IMPL.value, 1)
    model = models.create_classifier(model_name, 2, conv_impl)
    tx = train.create_optimizer(1e-4, 1)
    states = train.init_states(model, tx, keys, lambda k: (x[:1],))
    step = train.classifier_train_step
  epoch = train.make_epoch_fn(step, model, tx, batch, unroll=unroll)
  start = time.perf_counter()
  compiled = epoch.jitted.lower(states, x, y, keys, 0, None, None).compile()
  compile_s = time.perf_counter() - start
  flops = cost_flops(epoch.jitted, states, x, y, keys, 0, None, None,
                     compiled=compiled)
  box = [states]

  def run():
    box[0], metrics = compiled(box[0], x, y, keys, 0, None, None)
    return metrics
  run()
  # The second step's loss depends on the first step's gradients: two
  # builds of the step (e.g. other XLA flags) that agree on it compute
  # the same training, up to its rounding.
  loss = float(np.mean(run()['loss']))
  return run, flops, compile_s, loss


def step_table(peak):
  rows = []
  for model_name in _MODELS.value:
    for length in (int(l) for l in _LENGTHS.value):
      run, flops, compile_s, loss = make_step(model_name, length,
                                              _BATCH.value)
      t = median_time(run, _REPEATS.value)
      rows.append(dict(model=model_name, length=length, batch=_BATCH.value,
                       step_s=t, series_per_s=_BATCH.value / t,
                       flops_per_step=flops,
                       **reporting.throughput(flops, t, peak['gflops']),
                       compile_s=compile_s, second_step_loss=loss))
      r = rows[-1]
      print(f'{model_name:<15} L={length:<4} step {t * 1e3:8.1f} ms  '
            f'{r["series_per_s"]:8.0f} series/s  {flops / 1e9:7.2f} GFLOP  '
            f'{r["gflops"]:7.1f} GFLOP/s  {100 * r["peak_fraction"]:5.1f}% of '
            f'peak  compile {compile_s:5.1f} s', flush=True)
  return rows


def torch_table(steps, peak):
  """benchmarks/torch_reference.py's step times, run now with
  --torch_python, joined to ours (`steps`): speedup = its time / ours."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'torch.json')
    proc = subprocess.run(
        [_TORCH_PYTHON.value,
         os.path.join(root, 'benchmarks', 'torch_reference.py'),
         f'--models={",".join(_MODELS.value)}',
         f'--lengths={",".join(_LENGTHS.value)}',
         f'--batch_size={_BATCH.value}', f'--repeats={_REPEATS.value}',
         f'--json={out}'], capture_output=True, text=True)
    if proc.returncode:
      raise RuntimeError('benchmarks/torch_reference.py failed with '
                         f'{_TORCH_PYTHON.value}:\n{proc.stderr[-2000:]}')
    with open(out) as f:
      report = json.load(f)
  ours = {(r['model'], r['length']): r for r in steps}
  for r in report['steps']:
    mine = ours.get((r['model'], r['length']))
    if mine:
      r['ours_step_s'] = mine['step_s']
      r['speedup'] = r['step_s'] / mine['step_s']
      r['peak_fraction'] = reporting.throughput(
          mine['flops_per_step'], r['step_s'], peak['gflops'])['peak_fraction']
      print(f'{r["model"]:<15} L={r["length"]:<4} PyTorch {report["torch"]} '
            f'eager {r["step_s"] * 1e3:8.1f} ms ({100 * r["peak_fraction"]:.1f}'
            f'% of peak), ours {mine["step_s"] * 1e3:8.1f} ms: '
            f'{r["speedup"]:.2f}x', flush=True)
  return report


def online_epoch(method_name, n, length, batch, num_seeds=3,
                 arch='resnet_wang'):
  """A compiled classifier epoch over n series (seeds vmapped, as a sweep
  trains them), with `method_name` on the fly (share 0.5), or without
  augmentation when None. The VAE of latent methods has random weights:
  its cost does not depend on their values."""
  num_classes = 2
  x = jax.random.normal(jax.random.PRNGKey(0), (n, 1, length))
  labels = jnp.arange(n) % num_classes
  y = jax.nn.one_hot(labels, num_classes)
  keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
  steps = n // batch
  conv_impl, unroll = train.conv_plan('auto', steps)
  model = models.create_classifier(arch, num_classes, conv_impl)
  tx = train.create_optimizer(1e-3, steps + (n % batch > 0))
  states = train.init_states(model, tx, keys, lambda k: (x[:1],))
  online, aug_states = None, None
  if method_name:
    aug = specs.make_augmentation(f'{method_name}(mode=online)')
    vae = models.VAE(series_length=length, num_classes=num_classes)
    vae_params = jax.vmap(lambda k: vae.init(k, x[:1], k)['params'])(keys)
    method = aug.method
    if method.needs_vae:
      aug_states = jax.vmap(lambda p: method.fit(x, y, (vae, p)))(vae_params)
    else:
      aug_states = jax.tree_util.tree_map(
          lambda a: jnp.stack([a] * num_seeds), method.fit(x, y, None))
    online = train.Online(method, aug.share, aug.weight)
  epoch = train.make_epoch_fn(train.classifier_train_step, model, tx, batch,
                              unroll=unroll, online=online)
  box = [states, 0]
  start = time.perf_counter()
  box[0], metrics = epoch(box[0], x, y, keys, 0, None, aug_states)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start

  def run():
    box[1] += 1
    box[0], metrics = epoch(box[0], x, y, keys, box[1], None, aug_states)
    return metrics
  run()
  return run, compile_s


def online_table():
  """Per-epoch time with on-the-fly augmentation over the same epoch
  without it, measured in one run."""
  rows = []
  for shape in _ONLINE_SHAPES.value:
    sizes, batch = shape.split('/')
    n, length = (int(v) for v in sizes.split('x'))
    batch = int(batch)
    base_run, _ = online_epoch(None, n, length, batch)
    methods = [None] + list(_ONLINE.value)
    runs = {m: (base_run if m is None else online_epoch(m, n, length,
                                                        batch)[0])
            for m in methods}
    # Interleaved repeats, so drift in the machine's load hits all alike.
    times = {m: [] for m in methods}
    for _ in range(_REPEATS.value):
      for m in methods:
        times[m].append(median_time(runs[m], 1))
    base = float(np.median(times[None]))
    for m in methods[1:]:
      t = float(np.median(times[m]))
      rows.append(dict(method=m, n=n, length=length, batch=batch,
                       epoch_s=t, baseline_epoch_s=base, ratio=t / base))
      print(f'on the fly {m:<13} n={n:<4} L={length:<4} batch {batch:<3}: '
            f'epoch {t * 1e3:8.1f} ms vs {base * 1e3:8.1f} ms without '
            f'(x{t / base:.3f})', flush=True)
  return rows


def seeds_table():
  rows = []
  for k in (int(s) for s in _SEEDS.value):
    run, _, compile_s, _ = make_step(_SEEDS_MODEL.value, _SEEDS_LENGTH.value,
                                     _BATCH.value, num_seeds=k)
    t = median_time(run, max(3, _REPEATS.value // 2))
    rows.append(dict(num_seeds=k, step_s=t, per_seed_s=t / k,
                     compile_s=compile_s))
    print(f'seeds K={k:<2} {_SEEDS_MODEL.value} L={_SEEDS_LENGTH.value}: '
          f'step {t * 1e3:8.1f} ms, {t / k * 1e3:8.1f} ms per seed '
          f'(x{t / k / rows[0]["per_seed_s"]:.2f} of K=1)', flush=True)
  return rows


def end_to_end(num_seeds, cache_dir, cache_state):
  """The default GunPoint pipeline, in a fresh process (its own peak RSS),
  compiling into `cache_dir` (cache_state says whether it starts empty)."""
  with tempfile.TemporaryDirectory() as tmp:
    cmd = [sys.executable, '-m', 'lstsaug_jax.main',
           '--config=configs/gunpoint.py', f'--config.data_dir={_DATA_DIR.value}',
           '--config.baseline=True', '--config.test_augment=True',
           f'--config.num_epochs={_E2E_EPOCHS.value}',
           f'--config.num_seeds={num_seeds}', '--config.progress=False',
           f'--config.results_dir={tmp}', f'--config.model_dir={tmp}',
           f'--config.compilation_cache_dir={cache_dir}']
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
      raise RuntimeError(f'end-to-end run failed:\n{proc.stderr[-2000:]}')
    results_file = [os.path.join(d, f) for d, _, fs in os.walk(tmp)
                    for f in fs if f == 'results.json'][0]
    with open(results_file) as f:
      results = json.load(f)
    with open(os.path.join(os.path.dirname(results_file),
                           'metrics.jsonl')) as f:
      rows = [json.loads(line) for line in f]
  epochs = {}
  for stage in results['wall_time_s']:
    elapsed = [r['elapsed_s'] for r in rows
               if r['stage'] == stage and r['seed_index'] == 0]
    # The first epoch includes compiling; the rest is the steady state.
    epochs[stage] = dict(
        first_epoch_s=elapsed[0],
        epoch_ms=1e3 * (elapsed[-1] - elapsed[0]) / max(len(elapsed) - 1, 1))
  compiles = results.get('compiles', {})
  row = dict(num_seeds=num_seeds, epochs=_E2E_EPOCHS.value, cache=cache_state,
             wall_s=wall, stages_s=results['wall_time_s'],
             stage_epochs=epochs, compiles=compiles,
             compile_total_s=sum(c['total_s'] for c in compiles.values()),
             programs=sum(c['programs'] for c in compiles.values()),
             checkpoint_save_s=results.get('checkpoint_save_s'),
             # The run's own count: a forked child's ru_maxrss includes
             # the parent's pages from before exec.
             peak_rss_mb=results['peak_host_memory_mb'],
             baseline_accuracy=results['baseline_accuracy'],
             augmented_accuracy=results['augmented_accuracy'],
             command=' '.join(cmd[1:]))
  stages = ', '.join(
      f'{k} {v:.1f} s [first epoch {epochs[k]["first_epoch_s"]:.1f} s, then '
      f'{epochs[k]["epoch_ms"]:.1f} ms/epoch; {compiles[k]["programs"]} '
      f'programs ({compiles[k]["cache_hits"]} cached), '
      f'{compiles[k]["total_s"]:.1f} s building them]'
      for k, v in row['stages_s'].items())
  print(f'GunPoint end to end, K={num_seeds}, {cache_state} cache: '
        f'{wall:.1f} s wall ({stages}); checkpoint save '
        f'{row["checkpoint_save_s"]:.2f} s; peak RSS '
        f'{row["peak_rss_mb"]:.0f} MB; accuracy baseline '
        f'{row["baseline_accuracy"]:.4f}, augmented '
        f'{row["augmented_accuracy"]:.4f}', flush=True)
  return row


def end_to_end_cold_warm(num_seeds):
  """end_to_end with an empty compilation cache, then again with the cache
  the first run filled (what a user's second identical run meets)."""
  with tempfile.TemporaryDirectory() as cache:
    return [end_to_end(num_seeds, cache, 'cold'),
            end_to_end(num_seeds, cache, 'warm')]


def main(argv):
  del argv
  device = jax.devices()[0]
  n = _MATMUL_N.value or (2048 if device.platform == 'cpu' else 8192)
  report = dict(device=str(device.device_kind), platform=device.platform,
                devices=jax.device_count(), jax=jax.__version__,
                host=platform.node(), cpus=os.cpu_count(), machine=reporting.machine(),
                command=' '.join(sys.argv))
  print(f'device: {report["device"]} ({report["platform"]}, '
        f'{report["devices"]} devices), jax {jax.__version__}', flush=True)
  peak = matmul_peak(n, _REPEATS.value)
  report['matmul_peak'] = peak
  print(f'float32 matmul {n}x{n}: {peak["gflops"]:.1f} GFLOP/s (peak '
        'reference)', flush=True)
  report['steps'] = step_table(peak)
  if _TORCH_PYTHON.value:
    report['torch'] = torch_table(report['steps'], peak)
  report['seeds'] = seeds_table() if _SEEDS.value else []
  report['online'] = online_table() if _ONLINE.value else []
  report['end_to_end'] = [row for k in _E2E.value
                          for row in end_to_end_cold_warm(int(k))]
  report['peak_rss_mb'] = resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f'benchmark process peak RSS {report["peak_rss_mb"]:.0f} MB')
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(report, indent=2) + '\n')
    print(f'wrote {_JSON.value}')


if __name__ == '__main__':
  app.run(main)
