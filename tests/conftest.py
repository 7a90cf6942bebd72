"""Hypothesis profiles: reproducible in CI, exploring in development.

- ``ci`` (chosen by ``HYPOTHESIS_PROFILE=ci``, which ``.ci/run`` sets, or when ``CI`` is set): derandomised, so every CI run draws the same
  examples and a red run can be replayed exactly; no example database; each test's own ``max_examples``
  is its fixed budget.
- ``dev`` (the default elsewhere): random seeds, so each local run explores new examples; a failure prints
  the ``@reproduce_failure`` blob and the seed to replay it (``pytest --hypothesis-seed=N``).

``HYPOTHESIS_PROFILE=ci|dev`` overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
