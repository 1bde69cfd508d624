import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(ROOT, '..', 'shared', 'data')


@pytest.fixture
def tiny_config(tmp_path):
  from configs import tiny
  config = tiny.get_config()
  config.data_dir = SHARED_DATA
  config.results_dir = str(tmp_path / 'results')
  config.model_dir = str(tmp_path / 'checkpoints')
  return config
