"""What a long-running ``omnisync`` process does to the garbage collector once started."""

from __future__ import annotations

import json
import subprocess
import sys

from omnisync._heap import YOUNG_COLLECTION_EVERY

_STARTED = """
import gc, json
from omnisync._heap import freeze_started
before = gc.get_threshold()
freeze_started()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_start_up_is_frozen_and_the_young_generation_collected_less_often() -> None:
    # In a process of its own: the collector's settings are the whole process's.
    done = subprocess.run([sys.executable, "-c", _STARTED], capture_output=True, check=True)
    seen = json.loads(done.stdout)
    assert seen["frozen"] > 1000  # the imported modules, at least
    assert seen["after"] == [YOUNG_COLLECTION_EVERY, *seen["before"][1:]]
    assert seen["before"][0] < YOUNG_COLLECTION_EVERY
