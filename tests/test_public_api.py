import omnisync
from omnisync import adapters, errors, models


def test_everything_in_all_is_exported_and_documented():
    for module in (omnisync, models, adapters, errors):
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value) and not name.startswith("__"):
                assert value.__doc__, f"{module.__name__}.{name} has no docstring"


def test_public_names_are_not_private_module_paths():
    assert all(not name.startswith("_") or name == "__version__" for name in omnisync.__all__)


def test_every_error_is_under_the_root_and_says_what_to_do():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.OmnisyncError)
        if cls not in (errors.OmnisyncError, errors.StoreError):
            assert cls.default_hint, f"{name} gives no advice"


def test_the_sync_api_works_without_an_event_loop(tmp_path):
    from omnisync import Omnisync
    from omnisync.sim import SimMarket
    from tests.helpers import config

    market = SimMarket("shop")
    market.add_product("A")
    loaded = config(tmp_path, {"shop": {"adapter": "sim"}})
    with Omnisync(loaded, transports={"shop": market.transport()}) as om:
        om.set_stock("A", 4)
        report = om.sync()
        assert report.ok
        assert om.availability("A")["shop"].quantity == 4
    assert market.shown("A") == 4
