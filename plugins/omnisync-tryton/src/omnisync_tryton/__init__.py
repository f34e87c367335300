"""omnisync adapter for the Tryton ERP: stock in, sales and parties out, shipments back."""

from omnisync_tryton._adapter import TrytonAdapter, TrytonSettings

__all__ = ["TrytonAdapter", "TrytonSettings"]
