"""omnisync's benchmarks: each scenario measures omnisync beside the limit the channels (or
the machine) set, so a figure reads as a ratio that holds on a noisy machine.

Run them with ``python3 dev.py bench`` (see ``python3 dev.py bench --help``).
"""
