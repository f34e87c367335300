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


async def test_ready_waits_for_a_token_without_taking_it():
    time = FakeTime()
    limiter = RateLimiter(rate=2, burst=1, clock=time.clock, sleep=time.sleep)
    await limiter.acquire()
    await limiter.ready()  # the bucket is empty: half a second until the next token
    assert time.now == pytest.approx(0.5)
    await limiter.ready()
    await limiter.acquire()  # ready took nothing: the token is still there
    assert time.now == pytest.approx(0.5)


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        RateLimiter(rate=0, burst=1)


@pytest.mark.parametrize(("spare", "refused"), [(0.0, True), (1.0, False)])
async def test_a_spare_token_absorbs_requests_arriving_early(spare, refused):
    """The channel's bucket is as big as ours; every other request reaches it 80 ms sooner
    after the one before than it left (a slow connection, then a fast one)."""
    time = FakeTime()
    rate, burst = 5.0, 5.0
    limiter = RateLimiter(rate=rate, burst=burst, spare=spare, clock=time.clock, sleep=time.sleep)
    server, updated, answers = burst, 0.0, []
    for number in range(50):
        await limiter.acquire()
        arrival = time.now + (0.08 if number % 2 == 0 else 0.0)
        server = min(burst, server + (arrival - updated) * rate)
        updated = arrival
        answers.append(429 if server < 1 else 200)
        server -= 0 if server < 1 else 1
    assert (429 in answers) is refused
    assert time.now == pytest.approx((50 - burst + spare) / rate, abs=0.01)
