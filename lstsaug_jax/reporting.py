"""What a run leaves behind: its directory, metrics files, table, wandb."""

import datetime
import errno
import json
import os

from lstsaug_jax import data
from lstsaug_jax import files
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import OutputError


def make_run_dir(results_dir, dataset):
  """A new directory results_dir/{dataset}/{timestamp}[-k]; never reused."""
  base = os.path.join(results_dir, data.file_name(dataset))
  os.makedirs(base, exist_ok=True)
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  for k in range(1000):
    path = os.path.join(base, stamp if k == 0 else f'{stamp}-{k}')
    try:
      os.makedirs(path)
      return path
    except FileExistsError:
      continue
  raise OutputError(f'Could not create a new run directory under {base}: '
                    '1000 runs started this second already exist.')


class NullLogger:
  """A MetricsLogger that keeps nothing (the non-writing processes of a
  multi-host run)."""

  records = 0
  last = None

  def log(self, stage, record):
    del stage, record

  def close(self):
    pass


class RecordingLogger(NullLogger):
  """A logger that keeps each record in memory (`history`), with its
  stage: the Python API's training history."""

  def __init__(self):
    self.history = []

  def log(self, stage, record):
    self.history.append(dict(stage=stage, **record))


class MetricsLogger:
  """Appends per-epoch records to metrics.jsonl, and to wandb if enabled.

  Each record goes out in one write; a write that fails part-way (a full
  disk) is cut back to the last whole record and raised as an OutputError
  that says how many records the file holds.
  """

  def __init__(self, run_dir, wandb_run=None):
    self.path = os.path.join(run_dir, 'metrics.jsonl')
    self._fd = files.open_append(self.path)
    self._size = os.fstat(self._fd).st_size
    self._wandb = wandb_run
    self.records = 0
    self.last = None  # (stage, epoch) of the last whole record

  def log(self, stage, record):
    line = (json.dumps(dict(stage=stage, **record)) + '\n').encode()
    try:
      written = os.write(self._fd, line)
      if written != len(line):
        raise OSError(errno.ENOSPC, 'No space left on device (short write)')
    except OSError as e:
      try:
        os.ftruncate(self._fd, self._size)
      except OSError:
        pass
      last = (f', the last for stage {self.last[0]} epoch {self.last[1]}'
              if self.last else '')
      raise OutputError(
          f'Writing {self.path} failed ({e.strerror or e}) at stage {stage} '
          f'epoch {record.get("epoch")}: the file holds {self.records} whole '
          f'records{last}; the failed record was removed.') from None
    self._size += len(line)
    self.records += 1
    self.last = (stage, record.get('epoch'))
    if self._wandb is not None:
      self._wandb.log({f'{stage}/{k}': v for k, v in record.items()})

  def close(self):
    os.close(self._fd)
    if self._wandb is not None:
      self._wandb.finish()


def start_wandb(config, run_dir):
  """A wandb run, importing wandb only now; a clear error if it is missing."""
  try:
    import wandb  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError(
        'config.wandb=True asks for Weights & Biases logging, but the wandb '
        'package is not installed. Install it with `pip install wandb` (set '
        'WANDB_MODE=offline to log without an account), or run without '
        '--config.wandb=True: metrics are saved under results_dir either '
        'way.') from None
  return wandb.init(project=config.wandb_project, config=config.to_dict(),
                    dir=run_dir, name=os.path.basename(run_dir),
                    reinit=True)


def _train_sizes(results):
  """'30 / 60', or with a filter, what it kept: '30 / 30 + 0 synthetic (0%
  of 30 draws kept)'."""
  n = results['train_size']
  total = results.get('augmented_train_size')
  if not total:
    return f'{n} / -'
  accepted = results.get('synthetic_accepted')
  if accepted is None or accepted == 1.0:
    return f'{n} / {total}'
  draws = total - n
  return (f'{n} / {n} + {round(accepted * draws)} synthetic ({accepted:.0%} '
          f'of {draws} draws kept)')


def throughput(flops, seconds, peak_gflops):
  """GFLOP/s of `flops` done in `seconds`, and their fraction of a peak
  of peak_gflops GFLOP/s (a benchmark's figures)."""
  gflops = flops / seconds / 1e9
  return dict(gflops=gflops, peak_fraction=gflops / peak_gflops)


def format_table(results):
  """The end-of-run summary as aligned text (mean +- std over seeds)."""
  seeds = len(results.get('seeds', [0]))

  def score(prefix, name):
    mean = results.get(f'{prefix}_{name}')
    if mean is None:
      return '-'
    if seeds == 1:
      return f'{mean:.4f}'
    return f'{mean:.4f} +- {results[f"{prefix}_{name}_std"]:.4f}'

  rows = [
      ('dataset', results['dataset']),
      ('seeds', ', '.join(str(s) for s in results.get('seeds', []))),
      ('train size (original / augmented)', _train_sizes(results)),
      ('test size', str(results['test_size'])),
  ]
  q = results.get('vae_quality')
  if q:
    on = results.get('evaluated_on', 'test')
    r2 = lambda v: '-' if v is None else f'{v:.3f}'
    rows.append((f'VAE R^2 train / {on}, KL, active dims',
                 f'{r2(q["r2_train"])} / {r2(q.get(f"r2_{on}"))}, '
                 f'{q["kl"]:.3g}, {q["active_dims"]:.3g}'))
    rows.append((f'VAE latent head accuracy ({on})',
                 f'{q[f"head_accuracy_{on}"]:.4f}'))
  rows += [(f'{prefix} accuracy / weighted F1',
            f'{score(prefix, "accuracy")} / {score(prefix, "f1")}')
           for prefix in ('baseline', 'augmented')]
  rows += [(f'wall time {stage} (s)', f'{t:.1f}')
           for stage, t in results['wall_time_s'].items()]
  width = max(len(k) for k, _ in rows)
  line = '-' * (width + 3 + max(len(v) for _, v in rows))
  return '\n'.join([line] + [f'{k:<{width}} | {v}' for k, v in rows] + [line])


_VECTOR_FLAGS = frozenset(('avx2', 'fma', 'avx512f', 'avx512_bf16',
                           'avx512_vnni', 'amx_bf16', 'amx_tile'))


def machine():
  """The CPU model and library versions figures are measured with (the
  machine changes between sessions: every figure names it)."""
  import platform  # pylint: disable=g-import-not-at-top
  import flax  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  cpu, flags = platform.processor(), []
  try:
    with open('/proc/cpuinfo') as f:
      info = f.read().splitlines()
    cpu = next(l.split(':', 1)[1].strip() for l in info
               if l.startswith('model name'))
    # One "AMD EPYC" may have AVX-512 in one session and not the next.
    flags = sorted(set(next(l for l in info if l.startswith('flags'))
                       .split(':', 1)[1].split()) & _VECTOR_FLAGS)
  except (OSError, StopIteration):
    pass
  return dict(cpu=cpu, cpu_flags=flags, cpus=os.cpu_count(),
              device=str(jax.devices()[0].device_kind),
              python=platform.python_version(), jax=jax.__version__,
              flax=flax.__version__, optax=optax.__version__)


def machine_id():
  """One line naming what computes a run's numbers: device, CPU model with
  its vector extensions, and the jax version. Rows of a results CSV carry
  it: XLA compiles for the CPU it runs on, and rounding that differs
  between CPUs moves a training run (under the final-model rule, a seed's
  accuracy by several points on small datasets)."""
  m = machine()
  return (f'{m["device"]} / {m["cpu"]} [{" ".join(m["cpu_flags"])}] / '
          f'jax {m["jax"]}')


class CompileLog:
  """Counts the programs JAX builds and what building them costs, from
  jax.monitoring's events, while the context is open.

  `programs` counts every executable built (compiled or read from the
  persistent cache), `cache_hits` those read from the cache; `compile_s` is
  their backend time (compiling, or reading the cache), `trace_s` and
  `lower_s` the Python-side tracing and lowering to MLIR that precede each.
  Listeners are process-wide, so contexts may nest (a stage inside a run)
  but two threads compiling at once are counted together.
  """

  _DURATIONS = {
      '/jax/core/compile/backend_compile_duration': 'compile_s',
      '/jax/core/compile/jaxpr_trace_duration': 'trace_s',
      '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower_s',
  }
  _COUNTS = {
      '/jax/core/compile/backend_compile_duration': 'programs',
      '/jax/compilation_cache/cache_hits': 'cache_hits',
  }

  def __init__(self):
    self.totals = dict(programs=0, cache_hits=0, compile_s=0.0, trace_s=0.0,
                       lower_s=0.0)

  def _on_duration(self, event, duration, **kwargs):
    del kwargs
    if event in self._DURATIONS:
      self.totals[self._DURATIONS[event]] += float(duration)
    if event in self._COUNTS:
      self.totals[self._COUNTS[event]] += 1

  def _on_event(self, event, **kwargs):
    del kwargs
    if event in self._COUNTS and event not in self._DURATIONS:
      self.totals[self._COUNTS[event]] += 1

  def __enter__(self):
    from jax import monitoring  # pylint: disable=g-import-not-at-top
    monitoring.register_event_duration_secs_listener(self._on_duration)
    monitoring.register_event_listener(self._on_event)
    return self

  def __exit__(self, *exc):
    from jax import monitoring  # pylint: disable=g-import-not-at-top
    monitoring.unregister_event_duration_listener(self._on_duration)
    monitoring.unregister_event_listener(self._on_event)

  def summary(self):
    """The totals, with `compiled` (programs not read from the cache) and
    `total_s` (tracing, lowering and building together)."""
    t = dict(self.totals)
    t['compiled'] = t['programs'] - t['cache_hits']
    t['total_s'] = t['compile_s'] + t['trace_s'] + t['lower_s']
    return {k: round(v, 4) if isinstance(v, float) else v
            for k, v in t.items()}
