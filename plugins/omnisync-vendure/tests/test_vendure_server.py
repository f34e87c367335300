"""The real-server harness: the cache, the skip-or-fail rule, fresh servers and the helpers."""

import json
import socket
from pathlib import Path

import pytest

from omnisync_vendure.testing import (
    CACHE_ENV,
    REQUIRE_ENV,
    VendureInstall,
    VendureServer,
    VendureUnavailable,
    installed_or_skip,
)
from omnisync_vendure.testing._install import NODE_ASSETS, _digest


def test_the_committed_manifest_pins_what_runs_on_node_20():
    manifest = json.loads((NODE_ASSETS / "package.json").read_text())
    lock = json.loads((NODE_ASSETS / "package-lock.json").read_text())
    assert manifest["dependencies"]["@vendure/core"] == "3.7.3"
    assert manifest["dependencies"]["better-sqlite3"].startswith("12.")  # 13 crashes on Node 20
    for name, version in manifest["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert not (NODE_ASSETS / "node_modules").exists()


def test_the_cache_is_keyed_by_the_lockfile_unless_configured(
    monkeypatch, tmp_path, vendure_install
):
    # vendure_install: the key names Node's version, so Node must be there (or we skip).
    monkeypatch.delenv(CACHE_ENV, raising=False)
    default = VendureInstall.default().root
    assert default.parent == Path.home() / ".cache" / "omnisync"
    assert default.name.startswith(f"vendure-{_digest(NODE_ASSETS / 'package-lock.json')}-node")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "vendure"))
    assert VendureInstall.default().root == tmp_path / "vendure"


def test_without_node_tests_skip_saying_why_or_fail_when_real_servers_are_required(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(VendureUnavailable, match=r"Node\.js and npm"):
        VendureInstall.default().ensure()
    with pytest.raises(pytest.skip.Exception, match=r"Node\.js and npm"):
        installed_or_skip()
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_ENV):
        installed_or_skip()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_each_server_starts_empty_on_its_own_port_and_stops_cleanly(vendure, vendure_pool):
    vendure.create_variant("MUG", stock=1)
    second = vendure_pool.take()
    try:
        assert second.port != vendure.port
        variants = second.admin("{ productVariants { totalItems } }")
        assert variants["productVariants"]["totalItems"] == 0
    finally:
        second.stop()
    port, folder, pid = vendure.port, vendure.folder, vendure.pid
    assert _listening(port)
    vendure.stop()
    assert not _listening(port)
    assert not folder.exists()
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped


def test_a_server_that_cannot_boot_says_why(vendure_install, tmp_path):
    broken = tmp_path / "empty.db"
    broken.write_bytes(b"")

    class NoTemplate(VendureInstall):
        @property
        def template(self) -> Path:
            return broken

    server = VendureServer(NoTemplate(vendure_install.root))
    with pytest.raises(VendureUnavailable, match="did not start"):
        server.start()
    assert server.folder is None


def test_the_helpers_check_out_as_a_buyer_and_cancel_as_a_merchant(vendure):
    lamp = vendure.create_variant("LAMP", stock=5, price=4500)
    placed = vendure.checkout([(lamp.variant_id, 2)], email="ada@example.com")
    order = vendure.order(placed.id)
    assert order["state"] == "PaymentAuthorized"
    assert [p["state"] for p in order["payments"]] == ["Authorized"]
    stock = vendure.stock(lamp.variant_id)
    assert (stock.on_hand, stock.allocated, stock.saleable) == (5, 2, 3)
    vendure.cancel_order(placed.id)
    assert vendure.order(placed.id)["state"] == "Cancelled"
    assert vendure.stock(lamp.variant_id).allocated == 0


def test_the_server_runs_with_telemetry_off(vendure):
    environ = Path(f"/proc/{vendure.pid}/environ")
    if not environ.exists():
        pytest.skip("reading another process's environment needs Linux's /proc")
    assert b"VENDURE_DISABLE_TELEMETRY=true" in environ.read_bytes().split(b"\0")
