"""What a run leaves behind: its directory, metrics files, table, wandb."""

import datetime
import json
import os


def make_run_dir(results_dir, dataset):
  """A new directory results_dir/{dataset}/{timestamp}[-k]; never reused."""
  base = os.path.join(results_dir, dataset.replace(':', '_').replace('/', '_'))
  os.makedirs(base, exist_ok=True)
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  for k in range(1000):
    path = os.path.join(base, stamp if k == 0 else f'{stamp}-{k}')
    try:
      os.makedirs(path)
      return path
    except FileExistsError:
      continue
  raise RuntimeError(f'Could not create a new run directory under {base}.')


def write_json(path, obj):
  """Writes JSON through a temporary file, so a reader never sees half."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


class MetricsLogger:
  """Appends per-epoch records to metrics.jsonl, and to wandb if enabled."""

  def __init__(self, run_dir, wandb_run=None):
    self.path = os.path.join(run_dir, 'metrics.jsonl')
    self._file = open(self.path, 'a')
    self._wandb = wandb_run

  def log(self, stage, record):
    self._file.write(json.dumps(dict(stage=stage, **record)) + '\n')
    self._file.flush()
    if self._wandb is not None:
      self._wandb.log({f'{stage}/{k}': v for k, v in record.items()})

  def close(self):
    self._file.close()
    if self._wandb is not None:
      self._wandb.finish()


def start_wandb(config, run_dir):
  """A wandb run, importing wandb only now; a clear error if it is missing."""
  try:
    import wandb  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise RuntimeError(
        'config.wandb=True asks for Weights & Biases logging, but the wandb '
        'package is not installed. Install it with `pip install wandb` (set '
        'WANDB_MODE=offline to log without an account), or run without '
        '--config.wandb=True: metrics are saved under results_dir either '
        'way.') from None
  return wandb.init(project=config.wandb_project, config=config.to_dict(),
                    dir=run_dir, name=os.path.basename(run_dir),
                    reinit=True)


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
      ('train size (original / augmented)',
       f'{results["train_size"]} / {results.get("augmented_train_size") or "-"}'),
      ('test size', str(results['test_size'])),
  ] + [(f'{prefix} accuracy / weighted F1',
        f'{score(prefix, "accuracy")} / {score(prefix, "f1")}')
       for prefix in ('baseline', 'augmented')] + [
           (f'wall time {stage} (s)', f'{t:.1f}')
           for stage, t in results['wall_time_s'].items()]
  width = max(len(k) for k, _ in rows)
  line = '-' * (width + 3 + max(len(v) for _, v in rows))
  return '\n'.join([line] + [f'{k:<{width}} | {v}' for k, v in rows] + [line])
