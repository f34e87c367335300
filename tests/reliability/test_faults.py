"""Workers under faults: channels failing every way they do, the database restarting, and
workers killed at random; once the faults stop, the books converge and balance."""

import random
import time

import pytest

from tests.reliability.fleet import Chaos, Fleet, Shop, Shoppers, check_books, converge

STOCK = {"LAMP": 5, "MUG": 40, "TEE": 25, "CAP": 3}


@pytest.fixture
def shop(tmp_path, pg_url):
    built = Shop(tmp_path, pg_url, dict(STOCK))
    built.open_stock()
    yield built
    built.close()


def test_faults_restarts_and_killed_workers_lose_nothing_and_sell_nothing_twice(shop, pg):
    if pg.data is None:
        pytest.skip("the database restart needs a server these tests started")
    rng = random.Random(3)
    fleet = Fleet(shop, 4)
    try:
        converge(shop)
        with Shoppers(shop).shopping(), Chaos(shop).running() as chaos:
            for second in range(10):
                time.sleep(1)
                fleet.kill_one(rng)
                if second == 4:
                    pg.restart()  # every connection of every worker is cut
                fleet.revive()
        converge(shop, timeout=90)
    finally:
        fleet.stop()
    summary = check_books(shop)
    assert summary["orders"] > 20, summary
    assert set(chaos.sprung) == set(Chaos.FAULTS), chaos.sprung
    print(f"\nfaults: {summary}, faults {dict(chaos.sprung)}, {fleet.started} workers started")
