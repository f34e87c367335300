"""Four worker processes, three channels selling the same small stock at once."""

import time

import pytest

from tests.reliability.fleet import Fleet, Shop, Shoppers, check_books, converge

STOCK = {"LAMP": 5, "MUG": 40, "TEE": 25, "CAP": 3}


@pytest.fixture
def shop(tmp_path, pg_url):
    built = Shop(tmp_path, pg_url, dict(STOCK))
    built.open_stock()
    yield built
    built.close()


def test_four_workers_and_three_channels_sell_the_same_stock_and_the_books_balance(shop):
    fleet = Fleet(shop, 4)
    try:
        converge(shop)  # every channel shows the opening stock
        with Shoppers(shop).shopping() as shoppers:
            time.sleep(6)
        converge(shop)
    finally:
        fleet.stop()
    summary = check_books(shop)
    assert summary["units_sold"] == sum(shoppers.bought.values())
    assert summary["orders"] > 20, summary
    assert "Traceback" not in fleet.logs()
    print(f"\nload: {summary}, {shoppers.sold_out} attempts found a channel sold out")
