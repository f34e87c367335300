"""Store operations on orders, their reservations and their export to back offices."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select

from omnisync.models import Order, OrderStatus, RiskLevel
from omnisync.store import _schema as t
from omnisync.store._base import TransactionBase, list_param, one_of
from omnisync.store._records import Holder, NewOrder, ReservationRow, StoredOrder

__all__ = ["OrdersMixin"]

_STORED_IDS = select(t.orders.c.external_id).where(
    t.orders.c.channel == bindparam("ch"),
    one_of(t.orders.c.external_id, list_param("ids")),
)
_HELD_BY_ROW = select(
    t.reservations.c.id, t.reservations.c.reserved + t.reservations.c.shipped
).where(one_of(t.reservations.c.id, list_param("ids", numbers=True)))
_LOCATIONS = list_param("locations")
_ORDER = select(t.orders).where(
    t.orders.c.channel == bindparam("ch"), t.orders.c.external_id == bindparam("ext")
)
_KEPT = select(  # what a new version of an order keeps of the stored one
    t.orders.c.id,
    t.orders.c.version,
    t.orders.c.hold_reason,
    t.orders.c.risk,
    t.orders.c.imported_at,
).where(t.orders.c.channel == bindparam("ch"), t.orders.c.external_id == bindparam("ext"))
# The columns to set come with the parameters; the row's id is "row_id".
_UPDATE_ORDER = t.orders.update().where(t.orders.c.id == bindparam("row_id"))
_UPDATE_RESERVATION = t.reservations.update().where(t.reservations.c.id == bindparam("row_id"))


def _stored(row: Any) -> StoredOrder:
    return StoredOrder(
        id=row.id,
        order=Order.model_validate_json(row.payload),
        version=row.version,
        content_hash=row.content_hash,
        hold_reason=row.hold_reason,
        risk=RiskLevel(row.risk) if row.risk else None,
        imported_at=row.imported_at,
        changed_at=row.changed_at,
    )


def _values(order: Order, content_hash: str, now: datetime, payload: str) -> dict[str, Any]:
    """The columns an order's content sets, on insert and on every change."""
    return {
        "number": order.number,
        "status": order.status.value,
        "financial_status": order.financial_status.value,
        "fulfilment_status": order.fulfilment_status.value,
        "currency": order.currency,
        "total": str(order.total.amount),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "content_hash": content_hash,
        "payload": payload,
        "changed_at": now,
    }


def _amounts(row: ReservationRow) -> dict[str, Any]:
    return {
        "reserved": row.reserved,
        "shipped": row.shipped,
        "settled": row.settled,
        "shipped_at": row.shipped_at,
    }


def _holding(held: int) -> int:
    """What a reservation row adds to its SKU's held units: nothing unless it holds some."""
    return max(held, 0)


def _reservation(row: Any) -> ReservationRow:
    return ReservationRow(
        id=row.id,
        order_id=row.order_id,
        line_id=row.line_id,
        sku=row.sku,
        location=row.location,
        seq=row.seq,
        reserved=row.reserved,
        shipped=row.shipped,
        settled=row.settled,
        shipped_at=row.shipped_at,
    )


def _adding_held(dialect: Any) -> Any:
    """Add to the units held of a SKU at a location."""
    held = t.stock_held
    stmt = dialect.insert(held)
    return stmt.on_conflict_do_update(
        index_elements=["sku", "location"], set_={"held": held.c.held + stmt.excluded.held}
    )


class OrdersMixin(TransactionBase):
    """Orders keyed by ``(channel, external_id)``, with a version that rises on each change."""

    def lock_order(self, channel: str, external_id: str) -> None:
        """Make other writers of this order wait until the transaction ends (a webhook and a
        poll importing it at once, say), so it is stored once and reconciled once."""
        self.lock_key("order", f"{channel}/{external_id}")

    def get_order(self, channel: str, external_id: str) -> StoredOrder | None:
        """The stored order, or ``None`` if omnisync has never imported it."""
        row = self.conn.execute(_ORDER, {"ch": channel, "ext": external_id}).first()
        return _stored(row) if row else None

    def find_order(self, reference: str) -> StoredOrder | None:
        """The order whose `Order.reference` is ``reference`` (``channel:number``, or
        ``channel:id:external_id`` for an order without a number), if stored."""
        channel, _, rest = reference.partition(":")
        if rest.startswith("id:"):
            return self.get_order(channel, rest.removeprefix("id:"))
        row = self.conn.execute(
            select(t.orders)
            .where(t.orders.c.channel == channel, t.orders.c.number == rest)
            .order_by(t.orders.c.id.desc())
            .limit(1)
        ).first()
        return _stored(row) if row is not None else None

    def get_order_by_id(self, order_id: int) -> StoredOrder:
        """The stored order with store id ``order_id``."""
        row = self.conn.execute(select(t.orders).where(t.orders.c.id == order_id)).one()
        return _stored(row)

    def new_order_ids(self, channel: str, external_ids: Collection[str]) -> set[str]:
        """Which of ``external_ids`` no order of ``channel`` in the store has."""
        ids = set(external_ids)
        stored = self.conn.execute(_STORED_IDS, {"ch": channel, "ids": sorted(ids)}).scalars()
        return ids - set(stored)

    def insert_orders(self, orders: Sequence[NewOrder], now: datetime) -> list[StoredOrder]:
        """Insert orders the store does not hold yet, in one statement, in order."""
        rows = [
            {
                "channel": new.order.channel,
                "external_id": new.order.external_id,
                "version": 1,
                "imported_at": now,
                "risk": new.risk.value if new.risk else None,
                "hold_reason": new.hold_reason,
                **_values(new.order, new.content_hash, now, new.payload),
            }
            for new in orders
        ]
        ids = self._insert_ids(t.orders, rows)
        return [
            StoredOrder(
                id=order_id,
                order=new.order,
                version=1,
                content_hash=new.content_hash,
                hold_reason=new.hold_reason,
                risk=new.risk,
                imported_at=now,
                changed_at=now,
            )
            for new, order_id in zip(orders, ids, strict=True)
        ]

    def save_order(
        self, order: Order, content_hash: str, now: datetime, payload: str | None = None
    ) -> StoredOrder:
        """Insert a new order, or replace the stored one and raise its version. ``payload`` is
        the order's JSON, if the caller has it already."""
        values = _values(order, content_hash, now, payload or order.model_dump_json())
        # Only what the new row keeps from the old one: the order itself is the caller's, so
        # it is neither read back nor parsed again.
        keys = {"ch": order.channel, "ext": order.external_id}
        existing = self.conn.execute(_KEPT, keys).first()
        if existing is None:
            inserted = self.conn.execute(
                self._insert(t.orders),
                {
                    "channel": order.channel,
                    "external_id": order.external_id,
                    "version": 1,
                    "imported_at": now,
                    **values,
                },
            ).inserted_primary_key
            assert inserted is not None
            order_id, version, hold, risk, imported_at = inserted[0], 1, None, None, now
        else:
            order_id, version, hold, risk, imported_at = existing
            version += 1
            self.conn.execute(_UPDATE_ORDER, {"row_id": order_id, "version": version, **values})
        return StoredOrder(
            id=int(order_id),
            order=order,
            version=version,
            content_hash=content_hash,
            hold_reason=hold,
            risk=RiskLevel(risk) if risk else None,
            imported_at=imported_at,
            changed_at=now,
        )

    def set_hold(self, order_id: int, reason: str | None) -> None:
        """Put an order on hold with ``reason``, or release it with ``None``."""
        self.conn.execute(_UPDATE_ORDER, {"row_id": order_id, "hold_reason": reason})

    def set_risk(self, order_id: int, risk: RiskLevel | None) -> None:
        """Record the risk level plugins assessed for an order."""
        self.conn.execute(_UPDATE_ORDER, {"row_id": order_id, "risk": risk.value if risk else None})

    def list_orders(
        self,
        *,
        channel: str | None = None,
        status: OrderStatus | None = None,
        held: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredOrder]:
        """Stored orders, newest first, filtered by channel, status and hold."""
        query = select(t.orders).order_by(t.orders.c.created_at.desc(), t.orders.c.id.desc())
        if channel is not None:
            query = query.where(t.orders.c.channel == channel)
        if status is not None:
            query = query.where(t.orders.c.status == status.value)
        if held is not None:
            hold = t.orders.c.hold_reason
            query = query.where(hold.is_not(None) if held else hold.is_(None))
        rows = self.conn.execute(query.limit(limit).offset(offset)).all()
        return [_stored(row) for row in rows]

    def count_orders(self, channel: str | None = None) -> int:
        """How many orders the store holds, for one channel or all."""
        query = select(func.count()).select_from(t.orders)
        if channel is not None:
            query = query.where(t.orders.c.channel == channel)
        return int(self.conn.execute(query).scalar_one())

    def orders_to_export(
        self, target: str, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredOrder]:
        """Orders not on hold whose current version ``target`` has not received yet, in store
        order after ``after_id``. An order cancelled before it was ever exported is skipped."""
        exp = t.exports
        joined = t.orders.outerjoin(
            exp, and_(exp.c.order_id == t.orders.c.id, exp.c.target == target)
        )
        query = (
            select(t.orders)
            .select_from(joined)
            .where(
                t.orders.c.id > after_id,
                t.orders.c.hold_reason.is_(None),
                t.orders.c.channel != target,
                or_(
                    and_(
                        exp.c.version.is_(None),
                        t.orders.c.status != OrderStatus.CANCELLED.value,
                    ),
                    exp.c.version < t.orders.c.version,
                ),
            )
            .order_by(t.orders.c.id)
            .limit(limit)
        )
        return [_stored(row) for row in self.conn.execute(query).all()]

    def mark_exported(
        self, target: str, order_id: int, version: int, external_ref: str, now: datetime
    ) -> None:
        """Record that ``target`` holds ``version`` of the order as ``external_ref``."""
        self._upsert(
            t.exports,
            {
                "target": target,
                "order_id": order_id,
                "version": version,
                "external_ref": external_ref,
                "at": now,
            },
            keys=("target", "order_id"),
            update=("version", "external_ref", "at"),
        )

    def customer_link(self, target: str, customer_key: str) -> str | None:
        """The id ``target`` gave the customer, if it was pushed there before."""
        link = t.customer_links
        return self.conn.execute(
            select(link.c.external_ref).where(
                link.c.target == target, link.c.customer_key == customer_key
            )
        ).scalar_one_or_none()

    def link_customer(
        self, target: str, customer_key: str, external_ref: str, now: datetime
    ) -> None:
        """Remember the id ``target`` gave a customer."""
        self._upsert(
            t.customer_links,
            {
                "target": target,
                "customer_key": customer_key,
                "external_ref": external_ref,
                "at": now,
            },
            keys=("target", "customer_key"),
            update=("external_ref", "at"),
        )

    # Reservations -----------------------------------------------------------------------

    def reservations_for_order(self, order_id: int) -> list[ReservationRow]:
        """Every reservation row of one order, in allocation order."""
        rows = self.conn.execute(
            select(t.reservations)
            .where(t.reservations.c.order_id == order_id)
            .order_by(t.reservations.c.seq, t.reservations.c.id)
        ).all()
        return [_reservation(row) for row in rows]

    def save_reservation(self, row: ReservationRow) -> ReservationRow:
        """Insert a new reservation row, or write back a changed one."""
        self.save_reservations([row])
        return row

    def save_reservations(self, rows: Sequence[ReservationRow]) -> None:
        """Insert the new rows among ``rows`` (setting their ids) and write back the others,
        keeping the units held per SKU and location (`stock_cells`) in step with them."""
        new = [row for row in rows if row.id is None]
        changed = {row.id: row for row in rows if row.id is not None}
        held: Counter[tuple[str, str]] = Counter()
        for row in new:
            held[(row.sku, row.location)] += _holding(row.held)
        for row_id, before in self._held_by_row(changed).items():
            row = changed[row_id]
            held[(row.sku, row.location)] += _holding(row.held) - _holding(before)
        ids = self._insert_ids(
            t.reservations,
            [
                {
                    "order_id": row.order_id,
                    "line_id": row.line_id,
                    "sku": row.sku,
                    "location": row.location,
                    "seq": row.seq,
                    **_amounts(row),
                }
                for row in new
            ],
        )
        if changed:
            self._run(
                _UPDATE_RESERVATION,
                [{"row_id": row_id, **_amounts(row)} for row_id, row in changed.items()],
            )
        for row, row_id in zip(new, ids, strict=True):
            row.id = row_id
        self._add_held(held)
        self.mark_pending({row.sku for row in rows})

    def _held_by_row(self, row_ids: Collection[int]) -> dict[int, int]:
        """The held units stored for each of the reservation rows ``row_ids``."""
        rows = self.conn.execute(_HELD_BY_ROW, {"ids": list(row_ids)})
        return {int(row_id): int(held) for row_id, held in rows}

    def _add_held(self, held: Counter[tuple[str, str]]) -> None:
        """Add ``held`` to the units held per SKU and location, in key order (so that
        concurrent writers lock the rows in one order)."""
        rows = [
            {"sku": sku, "location": location, "held": units}
            for (sku, location), units in sorted(held.items())
            if units
        ]
        if not rows:
            return
        self._run(self._built("held", _adding_held), rows)

    def shipped_rows(
        self, sku: str | None, locations: Collection[str], before: datetime
    ) -> list[ReservationRow]:
        """Rows at ``locations`` (of ``sku``, or of every SKU) holding units shipped before
        ``before`` that no count has confirmed gone yet."""
        res = t.reservations
        query = select(res).where(
            one_of(res.c.location, _LOCATIONS), res.c.shipped > 0, res.c.shipped_at < before
        )
        if sku is not None:
            query = query.where(res.c.sku == sku)
        rows = self.conn.execute(query, {"locations": list(locations)}).all()
        return [_reservation(row) for row in rows]

    def holders(self, sku: str, locations: Collection[str], limit: int = 50) -> list[Holder]:
        """Orders holding ``sku`` at ``locations``, newest first."""
        res = t.reservations
        held = func.sum(res.c.reserved + res.c.shipped)
        query = (
            select(
                t.orders.c.id,
                t.orders.c.channel,
                t.orders.c.external_id,
                t.orders.c.created_at,
                t.orders.c.hold_reason,
                func.sum(res.c.reserved),
                held,
            )
            .select_from(res.join(t.orders, t.orders.c.id == res.c.order_id))
            .where(res.c.sku == sku, one_of(res.c.location, _LOCATIONS))
            .group_by(
                t.orders.c.id,
                t.orders.c.channel,
                t.orders.c.external_id,
                t.orders.c.created_at,
                t.orders.c.hold_reason,
            )
            .having(held > 0)
            .order_by(t.orders.c.created_at.desc(), t.orders.c.id.desc())
            .limit(limit)
        )
        rows = self.conn.execute(query, {"locations": list(locations)}).all()
        return [Holder(*row) for row in rows]
