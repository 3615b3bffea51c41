"""Capability ids: uuid5 of the cloud, the flavor, the feature and the architecture."""

from __future__ import annotations

import random
import string
import uuid

from framework.plugins import hpa


def test_the_fast_uuid5_is_uuid5() -> None:
    rng = random.Random(7)
    alphabet = string.printable + "éß€😀"
    for _ in range(5000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert hpa._uuid5(name) == str(uuid.uuid5(hpa.CAPABILITY_NAMESPACE, name))


def test_an_id_is_stable_and_depends_on_every_part() -> None:
    data = {"viminfo": {"cloud_owner": "o", "cloud_region_id": "r"}, "flavor": {"id": "f"}}
    first = hpa.capability_id(data, "cpuPinning", "generic")
    assert first == hpa.capability_id(dict(data), "cpuPinning", "generic")
    assert first == str(uuid.uuid5(hpa.CAPABILITY_NAMESPACE, "o/r/f/cpuPinning/generic"))
    assert len({first, hpa.capability_id(data, "cpuPinning", "Intel64"),
                hpa.capability_id(data, "numa", "generic"),
                hpa.capability_id({**data, "flavor": {"id": "g"}}, "cpuPinning", "generic")}) == 4
