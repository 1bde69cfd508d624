import json
import os
import sys

import pytest

from lstsaug_jax import pipeline


def test_wandb_offline_logs_every_stage(tiny_config, monkeypatch):
  monkeypatch.setenv('WANDB_MODE', 'offline')
  monkeypatch.setenv('WANDB_SILENT', 'true')
  tiny_config.wandb = True
  tiny_config.baseline = True
  results = pipeline.run(tiny_config)
  offline_runs = [d for d in os.listdir(os.path.join(results['run_dir'],
                                                     'wandb'))
                  if d.startswith('offline-run')]
  assert len(offline_runs) == 1
  assert 'baseline_accuracy' in results


def test_wandb_not_installed_is_a_clear_error(tiny_config, monkeypatch):
  monkeypatch.setitem(sys.modules, 'wandb', None)  # import fails
  tiny_config.wandb = True
  with pytest.raises(RuntimeError, match='pip install wandb'):
    pipeline.run(tiny_config)


def test_invalid_fields_are_reported_together(tiny_config):
  tiny_config.noise = -1.0
  tiny_config.num_samples = 0
  with pytest.raises(ValueError) as e:
    pipeline.run(tiny_config)
  assert 'noise=-1.0' in str(e.value) and 'num_samples=0' in str(e.value)


def test_results_json_matches_the_returned_results(tiny_config):
  tiny_config.baseline = True
  results = pipeline.run(tiny_config)
  with open(os.path.join(results['run_dir'], 'results.json')) as f:
    assert json.load(f) == json.loads(json.dumps(results))
