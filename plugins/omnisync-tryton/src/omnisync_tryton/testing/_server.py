"""A real trytond on loopback for tests: installed once, its database built once, both cached.

The server runs from its own virtual environment (Tryton's packages never meet the test's),
on a SQLite database copied from a seeded template, so a fresh server takes seconds.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx

from omnisync_tryton._rpc import decode, encode

__all__ = ["PACKAGES", "TrytonServer"]

PACKAGES = (
    "trytond==8.2.*",
    "proteus==8.2.*",
    "trytond_company==8.2.*",
    "trytond_currency==8.2.*",
    "trytond_party==8.2.*",
    "trytond_product==8.2.*",
    "trytond_stock==8.2.*",
    "trytond_sale==8.2.*",
    "trytond_account==8.2.*",
    "trytond_account_product==8.2.*",
    "trytond_account_invoice==8.2.*",
)
"""What the server runs (Tryton 8.2, the release the adapter is written against)."""

DATABASE = "omnisync"
ADMIN_PASSWORD = "admin"


def _seed_script() -> Path:
    return Path(str(files("omnisync_tryton.testing").joinpath("seed.py")))


def default_cache() -> Path:
    """``$OMNISYNC_TRYTON_CACHE``, else a folder under ``~/.cache/omnisync`` named for the
    packages and the seed script, so a change to either builds afresh."""
    given = os.environ.get("OMNISYNC_TRYTON_CACHE")
    if given:
        return Path(given)
    digest = hashlib.sha256("\n".join(PACKAGES).encode() + _seed_script().read_bytes())
    return Path.home() / ".cache" / "omnisync" / f"tryton-{digest.hexdigest()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time builds the cache (test workers may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(home: Path, port: int) -> Path:
    # With the queue on, confirming a sale queues its processing instead of running it in
    # the same call. Tryton's queue worker needs PostgreSQL, so on this SQLite server a
    # confirmed sale waits until `TrytonServer.process_sale` (a test's "the queue ran").
    conf = home / "trytond.conf"
    conf.write_text(
        "[database]\nuri = sqlite://\n"
        f"path = {home / 'db'}\n"
        f"[web]\nlisten = 127.0.0.1:{port}\n"
        "[session]\ntimeout = 3600\n"
        "[queue]\nworker = True\n"
    )
    return conf


class TrytonServer:
    """A trytond serving database ``omnisync`` (user ``admin``, password ``admin``) on a
    free loopback port, with helpers to drive it as a warehouse and a back office would."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache or default_cache()
        self.home: Path | None = None
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._client: httpx.Client | None = None

    # Install and build ------------------------------------------------------------------

    @property
    def _bin(self) -> Path:
        return self.cache / "venv" / "bin"

    @property
    def template(self) -> Path:
        return self.cache / "template" / f"{DATABASE}.sqlite"

    def prepare(self) -> None:
        """Install Tryton and build the seeded template database, unless cached."""
        with _locked(self.cache.with_suffix(".lock")):
            if not (self._bin / "trytond").exists():
                self._install()
            if not self.template.exists():
                self._build_template()

    def _install(self) -> None:
        venv = self.cache / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(self._bin / "python"), "-m", "pip", "install", "--quiet", *PACKAGES]
        subprocess.run(pip, check=True)

    def _build_template(self) -> None:
        work = Path(tempfile.mkdtemp(prefix="tryton-build-"))
        try:
            conf = _config(work, _free_port())
            (work / "db").mkdir()
            (work / "db" / f"{DATABASE}.sqlite").touch()  # trytond's SQLite needs the file
            (work / "passfile").write_text(ADMIN_PASSWORD)
            env = {**os.environ, "TRYTONPASSFILE": str(work / "passfile")}
            admin = [str(self._bin / "trytond-admin"), "-c", str(conf), "-d", DATABASE]
            run = {"check": True, "env": env, "capture_output": True}
            subprocess.run([*admin, "--all", "--email", "admin@example.com"], **run)  # type: ignore[call-overload]
            modules = ["-u", "sale", "stock", "--activate-dependencies"]
            subprocess.run([*admin, *modules], **run)  # type: ignore[call-overload]
            seed = [str(self._bin / "python"), str(_seed_script()), str(conf), DATABASE]
            subprocess.run(seed, **run)  # type: ignore[call-overload]
            self.template.parent.mkdir(parents=True, exist_ok=True)
            built = self.template.with_suffix(".building")
            shutil.copy(work / "db" / f"{DATABASE}.sqlite", built)
            built.rename(self.template)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # Run ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Settings for the ``tryton`` adapter to reach this server."""
        return {
            "base_url": self.url,
            "database": DATABASE,
            "username": "admin",
            "password": ADMIN_PASSWORD,
            **extra,
        }

    def start(self) -> None:
        """Start on a fresh copy of the template (or, after `stop`, on the same data)."""
        self.prepare()
        if self.home is None:
            self.home = Path(tempfile.mkdtemp(prefix="tryton-"))
            (self.home / "db").mkdir()
            shutil.copy(self.template, self.home / "db" / f"{DATABASE}.sqlite")
            self.port = _free_port()
        conf = _config(self.home, self.port)
        env = {**os.environ, "TRYTOND_DATABASE_NAMES": DATABASE}
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(self._bin / "trytond"), "-c", str(conf)], env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.post(
                    f"{self.url}/rpc/",
                    json={"id": 0, "method": "common.server.version", "params": []},
                    timeout=2,
                )
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"trytond did not start; see {self.home / 'server.log'}")
            time.sleep(0.2)
        self._session = None

    def stop(self) -> None:
        """Stop the server, keeping its data for another `start`."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """Stop the server and remove its data."""
        self.stop()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    # Drive --------------------------------------------------------------------------------

    def call(self, method: str, *params: Any, context: dict[str, Any] | None = None) -> Any:
        """A JSON-RPC call as ``admin``, with the user's context."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=60)
        if self._session is None:
            result = self._post("common.db.login", ["admin", {"password": ADMIN_PASSWORD}, "en"])
            token = f"admin:{result[0]}:{result[1]}"
            self._session = "Session " + base64.b64encode(token.encode()).decode()
            preferences = self._post("model.res.user.get_preferences", [True, {}])
            self._context = {"company": preferences["company"]}
        return self._post(method, [*params, {**self._context, **(context or {})}])

    def _post(self, method: str, params: list[Any]) -> Any:
        assert self._client is not None
        headers = {"Authorization": self._session} if self._session else {}
        body = {"id": 1, "method": method, "params": encode(params)}
        answer = self._client.post(f"/{DATABASE}/rpc/", json=body, headers=headers)
        answer.raise_for_status()
        data = answer.json()
        if data.get("error"):
            raise RuntimeError(f"{method}: {data['error']}")
        return decode(data["result"])

    def _location(self, code: str) -> int:
        [found] = self.call("model.stock.location.search", [("code", "=", code)], 0, 1, None)
        return int(found)

    def product(self, sku: str) -> int:
        [found] = self.call("model.product.product.search", [("code", "=", sku)], 0, 1, None)
        return int(found)

    def add_product(self, sku: str, quantity: int = 0, price: str = "19.90") -> int:
        """A salable goods product whose code is ``sku``, with ``quantity`` received."""
        [unit] = self.call("model.product.uom.search", [("name", "=", "Unit")], 0, 1, None)
        [goods] = self.call("model.product.category.search", [("name", "=", "Goods")], 0, 1, None)
        template = {
            "name": f"Product {sku}",
            "code": sku,
            "type": "goods",
            "salable": True,
            "default_uom": unit,
            "sale_uom": unit,
            "list_price": Decimal(price),
            "account_category": goods,
            "products": [["create", [{}]]],
        }
        self.call("model.product.template.create", [template])
        if quantity:
            self.receive(sku, quantity)
        return self.product(sku)

    def _move(self, sku: str, quantity: int, source: str, target: str) -> None:
        product = self.product(sku)
        [unit] = self.call("model.product.uom.search", [("name", "=", "Unit")], 0, 1, None)
        [currency] = self.call("model.currency.currency.search", [("code", "=", "USD")], 0, 1, None)
        move: dict[str, Any] = {
            "product": product,
            "quantity": float(quantity),
            "unit": unit,
            "from_location": self._location(source),
            "to_location": self._location(target),
        }
        if source == "SUP":  # goods bought in carry their cost
            move |= {"unit_price": Decimal("1"), "currency": currency}
        [move_id] = self.call("model.stock.move.create", [move])
        self.call("model.stock.move.do", [move_id])

    def receive(self, sku: str, quantity: int) -> None:
        """Goods arrive from a supplier into the warehouse's storage."""
        self._move(sku, quantity, "SUP", "STO")

    def quantity(self, sku: str) -> int:
        """On hand in the warehouse."""
        [warehouse] = self.call(
            "model.stock.location.search", [("type", "=", "warehouse")], 0, 1, None
        )
        [row] = self.call(
            "model.product.product.read",
            [self.product(sku)],
            ["quantity"],
            context={"locations": [warehouse]},
        )
        return int(row["quantity"])

    def set_count(self, sku: str, quantity: int) -> None:
        """Count the shelf, as a stock inventory of the storage zone: Tryton books the
        difference against lost and found."""
        line = {"product": self.product(sku), "quantity": float(quantity)}
        inventory = {"location": self._location("STO"), "lines": [["create", [line]]]}
        [inventory_id] = self.call("model.stock.inventory.create", [inventory])
        self.call("model.stock.inventory.confirm", [inventory_id])

    def sale(self, reference: str) -> dict[str, Any]:
        """The sale with ``reference``: state, number, amounts, lines."""
        found = self.call(
            "model.sale.sale.search_read",
            [("reference", "=", reference)],
            0,
            None,
            None,
            [
                "state",
                "number",
                "untaxed_amount",
                "tax_amount",
                "total_amount",
                "currency.code",
                "lines",
            ],
        )
        if not found:
            raise KeyError(f"no sale {reference}")
        [sale] = found
        sale["line_values"] = self.call(
            "model.sale.line.read", sale["lines"], ["product.code", "quantity", "unit_price"]
        )
        return dict(sale)

    def sales(self) -> list[dict[str, Any]]:
        """Every sale's reference and state."""
        rows = self.call("model.sale.sale.search_read", [], 0, None, None, ["reference", "state"])
        return list(rows)

    def process_sale(self, reference: str) -> None:
        """Run the queued processing of a confirmed sale (its shipments and invoice are
        created), as Tryton's queue worker would."""
        [sale_id] = self.call("model.sale.sale.search", [("reference", "=", reference)], 0, 1, None)
        self.call("model.sale.sale.process", [sale_id])

    def ship_sale(self, reference: str) -> str:
        """The warehouse ships the sale (processing it first if it still waits): its customer
        shipments are assigned, picked, packed and done. Returns the shipment number."""
        [sale_id] = self.call("model.sale.sale.search", [("reference", "=", reference)], 0, 1, None)
        [sale] = self.call("model.sale.sale.read", [sale_id], ["shipments", "state"])
        if sale["state"] == "confirmed":
            self.call("model.sale.sale.process", [sale_id])
            [sale] = self.call("model.sale.sale.read", [sale_id], ["shipments", "state"])
        numbers = []
        for shipment in sale["shipments"]:
            for button in ("assign_try", "pick", "pack", "do"):
                self.call(f"model.stock.shipment.out.{button}", [shipment])
            [row] = self.call("model.stock.shipment.out.read", [shipment], ["number"])
            numbers.append(row["number"])
        return ", ".join(numbers)
