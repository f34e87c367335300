"""What a compare-and-set stock push sends again when the channel's number moved under it."""

from __future__ import annotations

from omnisync.models import StockUpdate

__all__ = ["resend_after_stale"]


def resend_after_stale(update: StockUpdate, current: int) -> StockUpdate | None:
    """The update to send again after the channel refused ``update`` as stale, showing
    ``current`` rather than what omnisync expected; ``None`` when nothing needs sending.

    The channel sold (or lost) units omnisync may not have imported yet, so it is never told
    to show more than it has left: when ``current`` is no more than ``update.quantity``, the
    channel already shows what omnisync would set, and the adapter reports the item taken
    at ``current`` (the engine looks at the SKU again once the sale is in). Otherwise the same
    quantity goes again, expecting ``current``.
    """
    if current <= update.quantity:
        return None
    return update.model_copy(update={"previous": current})
