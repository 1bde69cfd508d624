"""What runs report about themselves: compile counts."""

import jax
import jax.numpy as jnp

from lstsaug_jax import reporting


def test_compile_log_counts_each_program_once_and_stops_on_exit():
  x = jnp.ones((7, 13))
  f = jax.jit(lambda a: jnp.tanh(a) * 3.0 + 1.0)
  with reporting.CompileLog() as log:
    f(x).block_until_ready()
    after_first = log.summary()
    f(x).block_until_ready()  # in memory: nothing is built again
    after_second = log.summary()
    f(jnp.ones((7, 14))).block_until_ready()  # a new shape: a new program
  assert after_first['programs'] == 1
  assert after_first['compile_s'] > 0 and after_first['trace_s'] > 0
  assert after_first['total_s'] >= after_first['compile_s']
  assert after_second == after_first
  assert log.summary()['programs'] >= 2  # (jnp.ones may build its own)
  closed = log.summary()
  f(jnp.ones((7, 15))).block_until_ready()
  assert log.summary() == closed


def test_compile_log_nests():
  g = jax.jit(lambda a: jnp.cos(a) - 2.0)
  with reporting.CompileLog() as outer:
    with reporting.CompileLog() as inner:
      g(jnp.ones((5, 11))).block_until_ready()
    g(jnp.ones((5, 12))).block_until_ready()
  assert inner.summary()['programs'] >= 1
  assert outer.summary()['programs'] > inner.summary()['programs']
