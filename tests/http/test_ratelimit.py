import pytest

from omnisync.http import RateLimiter

pytestmark = pytest.mark.anyio


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_a_burst_passes_then_calls_are_paced_to_the_rate():
    time = FakeTime()
    limiter = RateLimiter(rate=2, burst=4, clock=time.clock, sleep=time.sleep)
    for _ in range(4):
        await limiter.acquire()
    assert time.now == 0
    for _ in range(4):
        await limiter.acquire()
    assert time.now == pytest.approx(2.0)


async def test_costly_calls_take_more_of_the_budget():
    time = FakeTime()
    limiter = RateLimiter(rate=100, burst=1000, clock=time.clock, sleep=time.sleep)
    await limiter.acquire(1000)
    await limiter.acquire(200)
    assert time.now == pytest.approx(2.0)


async def test_pause_holds_everyone_until_the_channel_is_ready():
    time = FakeTime()
    limiter = RateLimiter(rate=10, burst=10, clock=time.clock, sleep=time.sleep)
    limiter.pause(3.0)
    await limiter.acquire()
    assert time.now == pytest.approx(3.0)


async def test_observed_budget_lowers_what_is_left():
    time = FakeTime()
    limiter = RateLimiter(rate=1, burst=10, clock=time.clock, sleep=time.sleep)
    limiter.observe(0)
    await limiter.acquire()
    assert time.now == pytest.approx(1.0)


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        RateLimiter(rate=0, burst=1)
