"""pytest hooks of the web3.py suite: the recorder (record.py) learns each test's name before its
fixtures run, so that what a module fixture records (the token's deployment) belongs to the test
that first needed it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import record  # noqa: E402


def pytest_runtest_setup(item):
    record.begin(item.name)
