import asyncio
import inspect
import re
from pathlib import Path

import pytest

from omnisync import hookimpl, hookspecs, plugins
from omnisync.adapters import Adapter, Capability
from omnisync.errors import CapabilityError, PluginError

ROOT = Path(__file__).resolve().parents[1]


class Registered:
    def __init__(self, *classes):
        self.classes = classes

    @hookimpl
    def register_adapters(self, register):
        for cls in self.classes:
            register(cls)


@pytest.fixture
def registered():
    """Register plugins for one test, and always unregister them."""
    added = []

    def add(plugin):
        plugins.plugin_manager().register(plugin)
        plugins.reset_adapter_cache()
        added.append(plugin)

    yield add
    for plugin in added:
        plugins.pm.unregister(plugin)
    plugins.reset_adapter_cache()


def test_built_in_adapters_register_through_the_same_hook_as_any_plugin():
    classes = plugins.adapter_classes()
    assert {"sim", "sim-inventory"} <= set(classes)
    infos = {info.name: info for info in plugins.installed_plugins()}
    assert infos["omnisync.sim.plugin"].adapters == ["sim", "sim-inventory"]


def test_a_plugin_from_an_entry_point_is_listed_with_its_distribution_and_version():
    from importlib.metadata import version

    infos = {info.name: info for info in plugins.installed_plugins()}
    shopify = infos["omnisync-shopify (shopify)"]
    assert shopify.version == version("omnisync-shopify")
    assert shopify.adapters == ["shopify"]


def test_a_plugin_registered_under_a_name_an_entry_point_had_is_not_given_its_version():
    original = plugins.pm.get_plugin("shopify")
    plugins.pm.unregister(name="shopify")
    impostor = Registered()
    try:
        plugins.pm.register(impostor, name="shopify")
        infos = {info.name: info for info in plugins.installed_plugins()}
        assert "omnisync-shopify (shopify)" not in infos
        assert infos["shopify"].version is None
    finally:
        plugins.pm.unregister(impostor)
        plugins.pm.register(original, name="shopify")


def test_a_duplicate_adapter_name_fails_at_load_naming_both_plugins(registered):
    class Clash(Adapter):
        name = "sim"

    registered(Registered(Clash))
    with pytest.raises(PluginError, match="'sim' is registered by both"):
        plugins.adapter_classes()


def test_registering_something_that_is_not_an_adapter_fails(registered):
    registered(Registered(object))
    with pytest.raises(PluginError, match="not an Adapter"):
        plugins.adapter_classes()


def test_a_plugin_adapter_is_found_by_name(registered):
    class Books(Adapter):
        name = "books"

    registered(Registered(Books))
    assert plugins.get_adapter_class("books") is Books


def test_declaring_a_capability_without_its_methods_fails_when_the_class_is_defined():
    with pytest.raises(PluginError, match="declares 'push_stock' but does not implement"):

        class Liar(Adapter):
            name = "liar"
            capabilities = frozenset({Capability.PUSH_STOCK})


def test_undeclared_capabilities_are_refused_clearly():
    from omnisync.adapters import AdapterSettings, ChannelContext

    class Reader(Adapter):
        name = "reader"

    adapter = Reader(AdapterSettings(), ChannelContext(name="books"))
    with pytest.raises(CapabilityError, match="cannot push stock"):
        asyncio.run(adapter.push_stock([]))


def test_adapter_names_are_checked():
    with pytest.raises(PluginError, match="names are lower case"):

        class Bad(Adapter):
            name = "Bad Name"


def test_a_misspelled_hook_is_caught():
    import pluggy

    class Typo:
        @hookimpl
        def register_adaptors(self, register):
            pass

    manager = pluggy.PluginManager("omnisync")
    manager.add_hookspecs(hookspecs)
    manager.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        manager.check_pending()


def test_channel_quantity_rules_can_only_lower(registered):
    class Cap:
        @hookimpl
        def channel_quantity(self, channel, sku, quantity):
            return 3 if channel == "shop" else quantity + 100

    registered(Cap())
    assert plugins.channel_quantity_cap("shop", "A", 10) == 3
    assert plugins.channel_quantity_cap("other", "A", 10) == 10


def test_order_events_reach_plugins_and_a_failing_plugin_is_only_logged(registered, caplog):
    from omnisync import OrderEvent, OrderEventKind
    from tests.helpers import order

    seen = []

    class Listener:
        @hookimpl
        def order_event(self, event):
            seen.append(event.kind)

    class Broken:
        @hookimpl
        def order_event(self, event):
            raise RuntimeError("boom")

    registered(Listener())
    registered(Broken())
    plugins.emit_order_event(OrderEvent(kind=OrderEventKind.IMPORTED, order=order()))
    assert seen == [OrderEventKind.IMPORTED]
    assert "failed handling imported" in caplog.text


def test_every_hook_has_a_test_and_is_documented():
    hooks = [
        name
        for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(getattr(hookspecs, name), "omnisync_spec")
    ]
    assert len(hooks) == 6
    tests = "".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    readme = (ROOT / "README.md").read_text()
    for hook in hooks:
        assert re.search(rf"def {hook}\(", tests), f"no test implements hook {hook}"
        assert f"{hook}(" in readme, f"README does not document hook {hook}"


def test_simulators_register_by_name_and_duplicates_fail(registered):
    from omnisync.sim import SimMarket, SimulatorOptions

    class Sims:
        @hookimpl
        def register_simulators(self, register):
            register("acme", lambda options: SimMarket("acme", token=options.token))

    registered(Sims())
    factories = plugins.simulators()
    assert {"sim", "sim-inventory", "acme"} <= set(factories)
    assert factories["acme"](SimulatorOptions(token="t")).token == "t"

    class Clash:
        @hookimpl
        def register_simulators(self, register):
            register("sim", lambda options: SimMarket("sim"))

    registered(Clash())
    with pytest.raises(PluginError, match="simulator 'sim' is registered by both"):
        plugins.simulators()
