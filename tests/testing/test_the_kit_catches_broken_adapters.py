"""The contract kit's checks can fail: broken adapters fail exactly the checks they break."""

import pytest

HEADER = """
from omnisync.sim import SimMarket, SimMarketAdapter
from omnisync.testing import AdapterContract


class Base(AdapterContract):
    settings = {"rate_limit": {"rate": 10_000, "burst": 10_000}}
    invalid_settings = {"page_size": 0}
    invalid_key = "page_size"

    def simulator(self):
        return SimMarket("contract")
"""


def run_kit(pytester: pytest.Pytester, body: str, checks: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_kit=HEADER + body)
    return pytester.runpytest_inprocess("-q", "-k", checks, *args)


def test_an_adapter_that_loses_the_last_page_fails_pagination(pytester):
    result = run_kit(
        pytester,
        """
class Lossy(SimMarketAdapter):
    name = "lossy"

    async def pull_orders(self, since):
        pages = [page async for page in super().pull_orders(since)]
        for page in pages[:-1]:
            yield page


class TestLossy(Base):
    adapter = Lossy
""",
        "pagination",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*orders were missed*"])


def test_an_adapter_that_retries_refused_credentials_fails_error_mapping(pytester):
    result = run_kit(
        pytester,
        """
from omnisync.errors import RateLimitedError


class Stubborn(SimMarketAdapter):
    name = "stubborn"

    def classify_response(self, response, channel):
        error = super().classify_response(response, channel)
        if response.status_code == 401:
            return RateLimitedError("try again", channel=channel)
        return error


class TestStubborn(Base):
    adapter = Stubborn
""",
        "refused_credentials",
    )
    result.assert_outcomes(failed=1, passed=1)


def test_an_adapter_that_ignores_its_batch_limit_fails_the_batch_check(pytester):
    result = run_kit(
        pytester,
        """
from omnisync.adapters import Limits, RateLimit


class Greedy(SimMarketAdapter):
    name = "greedy"
    limits = Limits(stock_batch_size=200, rate_limit=RateLimit(rate=20, burst=20))


class TestGreedy(Base):
    adapter = Greedy
""",
        "batch_limit",
    )
    result.assert_outcomes(failed=1)


def test_an_adapter_that_accepts_forged_webhooks_fails_the_signature_check(pytester):
    result = run_kit(
        pytester,
        """
class Trusting(SimMarketAdapter):
    name = "trusting"

    def verify_webhook(self, headers, body):
        return None


class TestTrusting(Base):
    adapter = Trusting
""",
        "bad_signature",
    )
    result.assert_outcomes(failed=1)


def test_checks_for_capabilities_an_adapter_lacks_are_left_out(pytester):
    result = run_kit(
        pytester,
        """
from omnisync.adapters import Capability


class OrdersOnly(SimMarketAdapter):
    name = "orders-only"
    capabilities = frozenset({Capability.PULL_ORDERS})


class TestOrdersOnly(Base):
    adapter = OrdersOnly
""",
        "stock_pushes or pagination or refused",
        "--collect-only",
    )
    collected = result.stdout.str()
    assert "test_pagination_reaches_the_end" in collected
    assert "test_stock_pushes" not in collected
    assert "test_an_undeclared_capability_is_refused[push_stock]" in collected
    assert "test_a_declared_capability_works[push_stock]" not in collected
