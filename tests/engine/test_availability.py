import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnisync import AsyncOmnisync
from omnisync.engine import ChannelRules
from omnisync.engine._availability import apply_rules, base_quantity, bundle_base
from omnisync.sim import SimMarket
from omnisync.store import StockCell
from tests.helpers import config

rules_strategy = st.builds(
    ChannelRules,
    buffer=st.integers(0, 50),
    percentage=st.integers(0, 100),
    zero_below=st.integers(0, 50),
    max_quantity=st.none() | st.integers(0, 500),
)


def test_rules_apply_in_the_documented_order():
    rules = ChannelRules(buffer=2, percentage=50, zero_below=3, max_quantity=4)
    quantity, steps = apply_rules(20, rules)
    assert quantity == 4
    assert [(s.before, s.after) for s in steps] == [(20, 18), (18, 9), (9, 4)]
    assert apply_rules(7, rules)[0] == 0  # 7-2=5, 50% = 2, below 3 -> 0


@given(st.integers(-1000, 1000), rules_strategy)
def test_quantity_is_never_negative_and_never_above_free_stock(base, rules):
    quantity, _ = apply_rules(base, rules)
    assert 0 <= quantity <= max(base, 0)
    if rules.max_quantity is not None:
        assert quantity <= rules.max_quantity


@given(st.integers(-1000, 1000), rules_strategy, st.none() | st.integers(0, 1000))
def test_the_numbers_alone_are_those_the_explanation_ends_with(base, rules, cap):
    capping = None if cap is None else (lambda q: min(q, cap))
    quantity, steps = apply_rules(base, rules, capping)
    assert apply_rules(base, rules, capping, explain=False) == (quantity, ())
    assert (steps[-1].after if steps else base) == quantity


@given(st.integers(0, 1000), rules_strategy, st.integers(0, 1000))
def test_plugin_caps_can_only_lower(base, rules, cap):
    uncapped, _ = apply_rules(base, rules)
    capped, _ = apply_rules(base, rules, lambda q: min(q, cap))
    assert capped == min(uncapped, cap)


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.builds(StockCell, on_hand=st.integers(-5, 50), held=st.integers(0, 50)),
        min_size=1,
    ),
    st.lists(st.sampled_from(["a", "b", "c"]), unique=True),
)
def test_base_is_on_hand_minus_held_at_the_channels_locations(cells, locations):
    expected = sum(c.on_hand - c.held for loc, c in cells.items() if loc in locations)
    assert base_quantity(cells, locations) == expected


@given(
    st.dictionaries(st.sampled_from(["x", "y", "z"]), st.integers(-10, 100), min_size=3),
    st.dictionaries(st.sampled_from(["x", "y", "z"]), st.integers(1, 5), min_size=1),
)
def test_bundles_never_promise_more_than_every_component_covers(bases, components):
    bundles = bundle_base(bases, components)
    assert bundles >= 0
    for sku, per in components.items():
        assert bundles * per <= max(bases[sku], 0)
    # and one more bundle would need more than some component has
    assert any((bundles + 1) * per > max(bases[sku], 0) for sku, per in components.items())


@pytest.mark.anyio
async def test_every_channels_table_is_what_each_channel_explains(tmp_path):
    channels = {
        "web": {"adapter": "sim", "locations": ["shelf", "store"]},
        "pos": {"adapter": "sim", "locations": ["store"], "buffer": 1},
        "market": {"adapter": "sim", "locations": ["shelf", "store"], "percentage": 50},
    }
    transports = {name: SimMarket(name).transport() for name in channels}
    loaded = config(
        tmp_path,
        channels,
        locations={"shelf": {}, "store": {}},
        bundles={"KIT": {"A": 1, "B": 2}},
    )
    async with AsyncOmnisync(loaded, transports=transports) as om:
        for sku, location, on_hand in [("A", "shelf", 7), ("A", "store", 3), ("B", "store", 4)]:
            await om.set_stock(sku, on_hand, location)
        table = await om.availability_table()
        explained = {sku: await om.availability(sku) for sku in ("A", "B", "KIT")}
    # One base worked out for the channels selling from the same locations, each its own rules.
    assert table == {sku: {ch: a.quantity for ch, a in by.items()} for sku, by in explained.items()}
    assert table == {
        "A": {"web": 10, "pos": 2, "market": 5},
        "B": {"web": 4, "pos": 3, "market": 2},
        "KIT": {"web": 2, "pos": 1, "market": 1},
    }
