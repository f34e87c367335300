"""The simulated market's own behaviour, which the engine's tests build on."""

import pytest

from omnisync.sim import SimMarket, SoldOut


def _market() -> SimMarket:
    market = SimMarket("shop")
    market.add_product("LAMP", quantity=10)
    market.add_product("BULB", quantity=3)
    return market


def test_an_edited_order_keeps_its_lines_ids_adds_new_ones_after_and_moves_the_shelf():
    market = _market()
    placed = market.buy({"LAMP": 3})
    edited = market.edit_order(placed["id"], {"LAMP": 1, "BULB": 2})
    assert [(line["id"], line["sku"], line["quantity"]) for line in edited["lines"]] == [
        ("1", "LAMP", 1),
        ("2", "BULB", 2),
    ]
    assert (market.shown("LAMP"), market.shown("BULB")) == (9, 1)
    assert edited["updated_at"] > placed["updated_at"]
    assert edited["total"] == "40.90"  # 1 × 10.00 + 2 × 10.00, 20 % tax, 4.90 shipping
    again = market.edit_order(placed["id"], {"LAMP": 2})  # a line keeps its place
    assert [(line["id"], line["quantity"]) for line in again["lines"]] == [("1", 2), ("2", 2)]
    removed = market.edit_order(placed["id"], {"BULB": 0})
    assert [line["sku"] for line in removed["lines"]] == ["LAMP"]
    assert market.shown("BULB") == 3


def test_an_edit_the_shelf_cannot_give_changes_nothing():
    market = _market()
    placed = market.buy({"LAMP": 1})
    with pytest.raises(SoldOut, match="BULB"):
        market.edit_order(placed["id"], {"LAMP": 2, "BULB": 4})
    assert market.orders[placed["id"]]["lines"] == placed["lines"]
    assert (market.shown("LAMP"), market.shown("BULB")) == (9, 3)
