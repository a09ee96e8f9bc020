"""The values a web3.py test saw, recorded so that lib/compare-values.mjs can compare them field by
field between `anh node` and anvil (clients/compare.sh): the twin of lib/record.mjs.

    record = Recorder("web3py")         # conftest.py names the current test (record.begin)
    record("transfer.gas", gas)         # { client, test, key, value } appended

Each call appends one JSON line {client, test, key, value} to the file named by
ANH_CLIENTS_RECORD (run.sh sets it to <logs>/web3py.values.jsonl); without it nothing is written.
Values are made plain JSON first (plain() below): int → decimal string (as JavaScript's bigint,
and exact beyond 2**53), bytes and HexBytes → 0x-hex, mappings (AttributeDict) → objects with
sorted keys, tuples → lists.

Self-check only: ANH_CLIENTS_RECORD_PERTURB=<client>/<test>/<key> replaces that value with
{"perturbed": value}, so that a run can show that compare-values.mjs fails on a difference.
"""

import json
import os
from collections.abc import Mapping

FILE = os.environ.get("ANH_CLIENTS_RECORD", "")
PERTURB = os.environ.get("ANH_CLIENTS_RECORD_PERTURB", "")


def plain(value):
    """`value` as plain JSON data (see the module's docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    raise TypeError(f"record: cannot record a {type(value).__name__}")


class Recorder:
    """`record(key, value)` for one client; `record.begin(test)` names the current test."""

    def __init__(self, client):
        self.client = client
        self.test = "(before the first test)"

    def begin(self, test):
        self.test = test

    def __call__(self, key, value):
        v = plain(value)
        if PERTURB and PERTURB == f"{self.client}/{self.test}/{key}":
            v = {"perturbed": v}
        if FILE:
            line = {"client": self.client, "test": self.test, "key": key, "value": v}
            with open(FILE, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")
        return value


record = Recorder("web3py")
