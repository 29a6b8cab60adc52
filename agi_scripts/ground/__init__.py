"""The ground floor: what every other layer may use, importing nothing else of the package.

- ``yamlsource``: YAML files read safely and checked value by value, every error as ``file:line:col``
  with a hint (``errors``);
- ``redact``: what of a caller may appear in a log, a mail or a report.

``protocol`` (the AGI wire) stands beside it on the same floor. See ``docs/architecture.md``.
"""
