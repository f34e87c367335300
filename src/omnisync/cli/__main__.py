"""``python -m omnisync.cli``: the same as the ``omnisync`` command."""

from omnisync.cli import main

main()
