import pytest

from omnisync.config import load_config, parse_config
from omnisync.errors import CapabilityError, ConfigError, PluginError


def parse(data, **kw):
    return parse_config(data, **kw)


def test_environment_references_are_substituted(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "tok-123456")
    loaded = parse(
        {"channels": {"shop": {"adapter": "sim", "settings": {"token": "${SHOP_TOKEN}"}}}}
    )
    assert loaded.channels["shop"].settings.token.get_secret_value() == "tok-123456"
    assert "tok-123456" not in repr(loaded.channels["shop"].settings)


def test_a_missing_environment_variable_names_the_key_and_the_variable(monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError) as info:
        parse({"channels": {"shop": {"adapter": "sim", "settings": {"token": "${NOPE_TOKEN}"}}}})
    assert info.value.key == "channels.shop.settings.token"
    assert "NOPE_TOKEN is not set" in str(info.value)


def test_a_literal_dollar_brace_can_be_written():
    loaded = parse({"channels": {"shop": {"adapter": "sim", "settings": {"token": "a$${b}"}}}})
    assert loaded.channels["shop"].settings.token.get_secret_value() == "a${b}"


def test_credentials_can_come_from_their_declared_environment_variable(monkeypatch):
    monkeypatch.setenv("OMNISYNC_SIM_TOKEN", "from-env")
    loaded = parse({"channels": {"shop": {"adapter": "sim"}}})
    assert loaded.channels["shop"].settings.token.get_secret_value() == "from-env"


def test_bad_values_name_their_key():
    with pytest.raises(ConfigError) as info:
        parse({"channels": {"shop": {"adapter": "sim", "buffer": -1}}})
    assert info.value.key == "channels.shop.buffer"
    assert "greater than or equal to 0" in str(info.value)


def test_bad_adapter_settings_name_their_key():
    with pytest.raises(ConfigError, match=r"channels\.shop\.settings\.page_size"):
        parse({"channels": {"shop": {"adapter": "sim", "settings": {"page_size": 0}}}})
    with pytest.raises(ConfigError, match=r"channels\.shop\.settings\.colour"):
        parse({"channels": {"shop": {"adapter": "sim", "settings": {"colour": "red"}}}})


def test_an_unknown_adapter_lists_the_installed_ones():
    with pytest.raises(PluginError, match=r"no adapter named 'amazon'.*sim-inventory"):
        parse({"channels": {"a": {"adapter": "amazon"}}})


def test_asking_an_adapter_for_what_it_cannot_do_fails_at_load():
    with pytest.raises(CapabilityError) as info:
        parse(
            {
                "channels": {"erp": {"adapter": "sim-inventory", "enable": ["push_stock"]}},
                "locations": {"main": {}},
            }
        )
    assert info.value.key == "channels.erp.enable"
    assert "cannot push stock" in str(info.value)


def test_unknown_capability_names_are_refused():
    with pytest.raises(ConfigError, match=r"channels\.shop\.enable"):
        parse({"channels": {"shop": {"adapter": "sim", "enable": ["teleport"]}}})


def test_locations_must_exist_and_sources_must_pull_stock():
    with pytest.raises(ConfigError, match=r"channels\.shop\.locations.*'attic'"):
        parse({"channels": {"shop": {"adapter": "sim", "locations": ["attic"]}}})
    with pytest.raises(ConfigError, match=r"locations\.main\.source"):
        parse({"channels": {"shop": {"adapter": "sim"}}, "locations": {"main": {"source": "shop"}}})
    with pytest.raises(ConfigError, match="no location names it as its source"):
        parse({"channels": {"erp": {"adapter": "sim-inventory"}}})


def test_bundles_are_checked():
    with pytest.raises(ConfigError, match=r"bundles\.KIT\.A.*at least 1"):
        parse({"bundles": {"KIT": {"A": 0}}})
    with pytest.raises(ConfigError, match="is itself a bundle"):
        parse({"bundles": {"KIT": {"A": 1}, "BOX": {"KIT": 1}}})


def test_channel_names_are_checked():
    with pytest.raises(ConfigError, match=r"channels\.my shop"):
        parse({"channels": {"my shop": {"adapter": "sim"}}})


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="omnisync init"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_says_where(tmp_path):
    path = tmp_path / "omnisync.toml"
    path.write_text("[store\nurl = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_the_example_configuration_loads(tmp_path):
    from omnisync.cli._example import EXAMPLE_CONFIG

    path = tmp_path / "omnisync.toml"
    path.write_text(EXAMPLE_CONFIG)
    loaded = load_config(path)
    assert set(loaded.channels) == {"erp", "shop", "marketplace"}


def test_channels_that_sell_need_a_location():
    with pytest.raises(ConfigError, match=r"channels\.shop\.locations"):
        parse({"channels": {"shop": {"adapter": "sim", "locations": []}}})
    with pytest.raises(ConfigError, match="define at least one location"):
        parse({"channels": {"shop": {"adapter": "sim"}}, "locations": {}})


def test_errors_about_adapter_settings_never_repeat_their_values(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "sk_live_do_not_print")
    with pytest.raises(ConfigError) as info:
        parse({"channels": {"shop": {"adapter": "sim", "settings": {"tokn": "${SHOP_TOKEN}"}}}})
    assert "sk_live_do_not_print" not in str(info.value)
    assert "channels.shop.settings.tokn" in str(info.value)
