"""The commented example configuration that ``omnisync init`` writes."""

from __future__ import annotations

__all__ = ["EXAMPLE_CONFIG"]

EXAMPLE_CONFIG = """\
# omnisync configuration.
#
# Any string may reference an environment variable as ${NAME}; keep credentials there, not
# in this file. `omnisync channels` checks this file and shows what each channel will do.
#
# As written, every channel is a built-in simulator running inside omnisync, so this file
# works as it is: `omnisync sync --once` imports orders from simulated shoppers and pushes
# stock back. Replace the simulators with real adapters (`omnisync plugins` lists them).

[store]
# Where omnisync keeps its state: an SQLite file next to this one, created on first use.
url = "sqlite:///omnisync.db"

[engine]
# Each incremental pull re-reads this far behind its cursor, so late writes are not missed.
overlap_seconds = 300
# `omnisync sync` (without --once) syncs every interval_seconds.
interval_seconds = 60
# Put an order that oversells on hold: it is then not sent to back offices until released.
hold_oversold = true

# Where stock sits. `source` is the channel that counts it (under `source_id` there).
# A location without a source is counted by omnisync itself: `omnisync set-stock`.
[locations.warehouse]
source = "erp"
source_id = "WH1"

# Bundles: sold as one SKU, made of others. A bundle is available while all its
# components are, and its orders reserve the components.
[bundles]
"GIFT-SET" = { "MUG-BLUE" = 1, "TEA-GREEN" = 2 }

# The ERP: counts the warehouse, receives every order as a sale and every buyer as a customer.
[channels.erp]
adapter = "sim-inventory"
[channels.erp.settings]
state_file = "sim-erp.json"   # the simulator's state between runs
stock = { WH1 = { "MUG-BLUE" = 12, "TEA-GREEN" = 20, "LAMP-BRASS" = 2 } }
# token = "${ERP_TOKEN}"      # a real adapter's credentials come from the environment

# A web shop. It is offered what is on hand at its locations, minus open orders,
# minus `buffer`; `percentage`, `zero_below` and `max_quantity` shape it further.
[channels.shop]
adapter = "sim"
buffer = 1
[channels.shop.settings]
state_file = "sim-shop.json"
# What the simulated shop lists, and the quantities it shows before omnisync first syncs.
products = { "MUG-BLUE" = 4, "TEA-GREEN" = 4, "LAMP-BRASS" = 1, "GIFT-SET" = 2 }
shoppers = 3                  # simulated buyers each time a sync starts

# A marketplace that may show at most 5 of anything.
[channels.marketplace]
adapter = "sim"
max_quantity = 5
# enable = ["pull_orders", "push_stock"]   # limit what omnisync does with a channel
[channels.marketplace.settings]
state_file = "sim-marketplace.json"
products = { "MUG-BLUE" = 4, "TEA-GREEN" = 4, "LAMP-BRASS" = 1 }
shoppers = 2
"""
