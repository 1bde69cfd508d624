"""The downloader against an HTTP server on 127.0.0.1 that the tests start."""

import functools
import http.server
import io
import os
import socket
import threading
import zipfile

import numpy as np
import pytest

from lstsaug_jax import data
from lstsaug_jax import pipeline


def ts_file(name, rows):
  header = (f'@problemName {name}\n@timeStamps false\n@missing false\n'
            '@univariate true\n@equalLength true\n@seriesLength 16\n'
            '@classLabel true 1 2\n@data\n')
  return header + ''.join(
      ','.join(f'{v:.4f}' for v in values) + f':{label}\n'
      for values, label in rows)


def make_zip(name, extra=None, seed=0):
  rng = np.random.default_rng(seed)
  def rows(n):
    return [(rng.normal(size=16) + 3 * (i % 2), 1 + i % 2) for i in range(n)]
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr(f'{name}/{name}_TRAIN.ts', ts_file(name, rows(12)))
    z.writestr(f'{name}/{name}_TEST.ts', ts_file(name, rows(8)))
    for path, text in (extra or {}).items():
      z.writestr(path, text)
  return buffer.getvalue()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):
    pass


@pytest.fixture
def server(tmp_path):
  root = tmp_path / 'served'
  root.mkdir()
  httpd = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(root)))
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield root, f'http://127.0.0.1:{httpd.server_address[1]}/aeon', httpd
  httpd.shutdown()
  httpd.server_close()


def serve(root, name, payload):
  (root / 'aeon').mkdir(exist_ok=True)
  (root / 'aeon' / f'{name}.zip').write_bytes(payload)


def options(url):
  return data.Options(download=True, download_url=url, download_timeout=5,
                      progress=False)


def listing(path):
  return sorted(os.path.relpath(os.path.join(d, f), path)
                for d, _, files in os.walk(path) for f in files)


def test_download_then_cache_hit_with_server_stopped(tmp_path, server):
  root, url, httpd = server
  serve(root, 'Coffee', make_zip('Coffee'))
  data_dir = tmp_path / 'data'
  first = data.load_dataset(str(data_dir), 'Coffee', options(url))
  assert first.x_train.shape == (12, 1, 16)
  assert first.x_test.shape == (8, 1, 16)
  assert listing(data_dir) == [
      os.path.join('UCRArchive_2018', 'Coffee', 'Coffee_TEST.tsv'),
      os.path.join('UCRArchive_2018', 'Coffee', 'Coffee_TRAIN.tsv')]
  httpd.shutdown()
  httpd.server_close()
  second = data.load_dataset(str(data_dir), 'Coffee', options(url))
  np.testing.assert_allclose(first.x_train, second.x_train, atol=1e-5)
  np.testing.assert_array_equal(first.y_test, second.y_test)


def test_zip_entry_outside_target_is_refused(tmp_path, server):
  root, url, _ = server
  serve(root, 'Beef', make_zip('Beef', extra={'../../evil.txt': 'x'}))
  data_dir = tmp_path / 'data'
  with pytest.raises(data.DataError, match="'../../evil.txt' that would be "
                     'written outside'):
    data.load_dataset(str(data_dir), 'Beef', options(url))
  assert listing(tmp_path) == [os.path.join('served', 'aeon', 'Beef.zip')]
  assert not any('evil' in p for p in listing(tmp_path.parent))


def test_truncated_zip_is_a_clear_error_leaving_nothing(tmp_path, server):
  root, url, _ = server
  payload = make_zip('Wine')
  serve(root, 'Wine', payload[:len(payload) // 2])
  data_dir = tmp_path / 'data'
  with pytest.raises(data.DataError, match='not a readable zip'):
    data.load_dataset(str(data_dir), 'Wine', options(url))
  assert listing(data_dir) == []


def test_server_down_is_a_clear_error(tmp_path):
  data_dir = tmp_path / 'data'
  # Bound and held, but not listening: a connection is refused, and no
  # other process can take the port while the test runs.
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    url = f'http://127.0.0.1:{s.getsockname()[1]}/aeon'
    with pytest.raises(data.DataError) as e:
      data.load_dataset(str(data_dir), 'Meat', options(url))
  message = str(e.value)
  assert 'The download failed' in message
  assert f'URL tried: {url}/Meat.zip' in message
  assert 'put Meat_TRAIN.tsv and Meat_TEST.tsv in' in message
  assert listing(data_dir) == []


def test_downloaded_dataset_used_end_to_end(tmp_path, server, tiny_config):
  root, url, _ = server
  serve(root, 'Coffee', make_zip('Coffee'))
  tiny_config.data_dir = str(tmp_path / 'data')
  tiny_config.dataset = 'Coffee'
  tiny_config.download_url = url
  tiny_config.download = True
  tiny_config.baseline = True
  results = pipeline.run(tiny_config).results
  assert results['train_size'] == 12 and results['test_size'] == 8
  # The served test labels (1, 2, 1, ...) reach the evaluation.
  predictions = np.load(os.path.join(results['run_dir'], 'predictions.npz'))
  np.testing.assert_array_equal(predictions['y_true'], np.arange(8) % 2)
  assert results['baseline_accuracy'] == np.mean(
      predictions['baseline'][0] == predictions['y_true'])
