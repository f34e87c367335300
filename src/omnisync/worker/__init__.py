"""Workers: sync work shared by several processes and machines through a PostgreSQL store.

Needs ``pip install 'omnisync[postgres]'``. `Workers` queues jobs and runs them; the command
line's ``omnisync worker`` and ``omnisync enqueue`` use it.
"""

from omnisync.worker._workers import PHASES, Workers

__all__ = ["PHASES", "Workers"]
