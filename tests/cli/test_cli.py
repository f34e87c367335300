import json

import pytest
from click.testing import CliRunner

from omnisync import _heap
from omnisync._time import utcnow
from omnisync.cli import EXIT_BUSY, EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, cli, main
from omnisync.store import open_store


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def configured(run):
    assert run("init").exit_code == 0
    return run


def test_init_writes_a_commented_example_that_syncs_as_it_is(configured, tmp_path):
    text = (tmp_path / "omnisync.toml").read_text()
    assert text.count("#") > 20
    result = configured("sync", "--once", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["ok"]
    assert {c["channel"] for c in report["channels"]} == {"erp", "shop", "marketplace"}
    shop = next(c for c in report["channels"] if c["channel"] == "shop")
    assert shop["counts"]["orders_imported"] == 3


def test_init_refuses_to_overwrite(configured):
    assert configured("init").exit_code == EXIT_CONFIG


def test_plugins_lists_the_built_in_adapters(run):
    result = run("plugins", "--json")
    names = {a for p in json.loads(result.stdout) for a in p["adapters"]}
    assert {"sim", "sim-inventory"} <= names


def test_channels_shows_what_each_channel_does(configured):
    rows = json.loads(configured("channels", "--json").stdout)
    shop = next(row for row in rows if row["channel"] == "shop")
    assert "push_stock" in shop["enabled"] and shop["locations"] == ["warehouse"]


def test_bad_configuration_exits_2_naming_the_key(run, tmp_path):
    (tmp_path / "omnisync.toml").write_text('[channels.shop]\nadapter = "sim"\nbuffer = -2\n')
    result = run("sync", "--once")
    assert result.exit_code == EXIT_CONFIG
    assert "channels.shop.buffer" in result.output


def test_a_missing_configuration_says_how_to_start(run):
    result = run("stock")
    assert result.exit_code == EXIT_CONFIG
    assert "omnisync init" in result.output


def test_a_failing_channel_exits_1_and_the_report_says_why(configured, tmp_path):
    text = (tmp_path / "omnisync.toml").read_text()
    text = text.replace(
        'state_file = "sim-shop.json"',
        'state_file = "sim-shop.json"\nbase_url = "http://127.0.0.1:9"',
    )
    text = text.replace("buffer = 1\n", "buffer = 1\nretry = { initial_wait = 0, jitter = 0 }\n")
    (tmp_path / "omnisync.toml").write_text(text)
    result = configured("sync", "--once", "--json")
    assert result.exit_code == EXIT_PARTIAL
    report = json.loads(result.stdout)
    shop = next(c for c in report["channels"] if c["channel"] == "shop")
    assert not shop["ok"] and "ConnectError" in shop["errors"][0]
    assert next(c for c in report["channels"] if c["channel"] == "marketplace")["ok"]


def test_a_second_sync_leaves_channels_another_sync_holds(configured, tmp_path):
    assert configured("sync", "--once").exit_code == EXIT_OK
    store = open_store("sqlite:///omnisync.db", base_dir=tmp_path)
    with store.transaction() as tx:
        for name in ("erp", "shop", "marketplace"):
            tx.acquire_lock(f"channel:{name}", "cron-job:4242", 300, utcnow())
    result = configured("sync", "--once")
    assert result.exit_code == EXIT_BUSY
    assert "cron-job:4242" in result.output
    with store.transaction() as tx:
        tx.release_lock("channel:shop", "cron-job:4242")
    result = configured("sync", "--once", "--json", "--channel", "shop")
    assert result.exit_code == EXIT_OK


def test_stock_explain_shows_every_step(configured):
    configured("sync", "--once")
    result = configured("stock", "GIFT-SET", "--explain")
    assert result.exit_code == 0
    assert "bundle of 1 x MUG-BLUE, 2 x TEA-GREEN" in result.output
    assert "safety buffer 1" in result.output
    data = json.loads(configured("stock", "MUG-BLUE", "--json").stdout)
    assert data["marketplace"]["quantity"] <= 5
    assert data["shop"]["steps"][0]["rule"] == "safety buffer 1"


def test_set_stock_then_stock_table(configured):
    configured("sync", "--once")
    refused = configured("set-stock", "MUG-BLUE", "3", "--location", "warehouse")
    assert refused.exit_code == EXIT_PARTIAL
    assert "counted by 'erp'" in refused.output
    assert configured("set-stock", "MUG-BLUE", "3", "--force").exit_code == 0
    table = json.loads(configured("stock", "--json").stdout)
    assert table["MUG-BLUE"]["on_hand"] == 3


def test_orders_incidents_deadletters_and_ledger(configured):
    configured("sync", "--once")
    orders = json.loads(configured("orders", "--json").stdout)
    assert len(orders) == 5 and "raw" not in orders[0]
    assert configured("orders", "--status", "open").exit_code == 0
    assert configured("incidents").exit_code == 0
    assert "no quarantined records" in configured("deadletters").output
    assert configured("deadletters", "--retry").exit_code == 0
    ledger = configured("ledger", "MUG-BLUE").output
    assert "count" in ledger and "push" in ledger


def test_releasing_an_unknown_order_is_an_error(configured):
    result = configured("release", "shop", "nope")
    assert result.exit_code == EXIT_PARTIAL
    assert "no order 'nope'" in result.output


def test_logs_can_be_json_with_their_context(configured, capsys):
    result = CliRunner().invoke(cli, ["--log-level", "debug", "--log-json", "sync", "--once"])
    assert result.exit_code == 0


def test_demo_tells_the_whole_story(run, tmp_path):
    result = run("demo", "--dir", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    assert "LAMP-BRASS" in result.output
    assert "Every channel shows exactly what omnisync computed." in result.output
    assert (tmp_path / "demo" / "omnisync.db").exists()


def test_a_lock_left_by_a_sync_that_died_on_this_host_is_taken_over(configured, tmp_path):
    import subprocess
    import sys

    from omnisync.engine._locks import default_owner

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = default_owner().split(":")[0]
    owner = f"{here}:{dead.pid}:crashed"
    assert configured("sync", "--once").exit_code == EXIT_OK
    store = open_store("sqlite:///omnisync.db", base_dir=tmp_path)
    with store.transaction() as tx:
        tx.acquire_lock("channel:shop", owner, 300, utcnow())
    result = configured("sync", "--once", "--channel", "shop")
    assert result.exit_code == EXIT_OK, result.output
    assert "no longer running" in result.output


def test_setting_stock_of_a_bundle_is_refused(configured):
    result = configured("set-stock", "GIFT-SET", "3")
    assert result.exit_code == EXIT_PARTIAL
    assert "set the stock of its components instead" in result.output


def test_plugins_can_be_restricted_by_environment(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMNISYNC_LOAD_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "omnisync.cli", "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert [p["name"] for p in json.loads(done.stdout)] == ["omnisync.sim.plugin"]


def test_simulate_serves_a_registered_simulator_on_a_port():
    import os
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omnisync.cli",
            "simulate",
            "sim",
            "--port",
            "0",
            "--product",
            "A=3",
            "--token",
            "tok",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        line = process.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        answer = httpx.get(f"{url}/inventory", headers={"Authorization": "Bearer tok"})
        assert answer.json() == {"items": [{"sku": "A", "quantity": 3}]}
    finally:
        process.terminate()
        process.wait()
        process.stdout.close()


def test_simulate_names_the_simulators_it_knows(run):
    result = run("simulate", "nosuch")
    assert result.exit_code == 2
    assert "sim-inventory" in result.output


def test_a_sync_freezes_what_starting_made_and_a_caller_of_cli_is_left_alone(
    configured, monkeypatch
):
    frozen = []
    monkeypatch.setattr(_heap.gc, "freeze", lambda: frozen.append("frozen"))
    assert configured("sync", "--once").exit_code == 0  # cli(), as an application calls it
    assert frozen == []
    for command in (["stock", "--json"], ["sync", "--once", "--json"]):
        monkeypatch.setattr("sys.argv", ["omnisync", *command])
        with pytest.raises(SystemExit) as exited:
            main()  # the omnisync command
        assert exited.value.code == 0
    assert frozen == ["frozen"]  # by the sync alone: a short command has nothing to gain


def test_an_error_is_printed_whole_brackets_and_all(configured):
    # The hint names the TOML section "[store]", which rich markup would swallow.
    result = configured("worker")
    assert result.exit_code == EXIT_CONFIG
    assert "set [store] url to postgresql://" in result.output


def test_a_sku_with_brackets_is_shown_as_it_is(configured):
    configured("sync", "--once")
    assert configured("set-stock", "mug[blue]", "3", "--force").exit_code == EXIT_OK
    assert "mug[blue]" in configured("stock").output
