import json
from decimal import Decimal

import httpx
import pytest
import respx
from hypothesis import example, given
from hypothesis import strategies as st

from omnisync.errors import (
    AuthError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from omnisync.http import ChannelHTTP, RetryPolicy, json_loads, parse_retry_after

pytestmark = pytest.mark.anyio
BASE = "https://api.example.test"


def client(**options) -> ChannelHTTP:
    retry = options.pop("retry", RetryPolicy(max_attempts=3, initial_wait=0, jitter=0))
    return ChannelHTTP("shop", base_url=BASE, retry=retry, **options)


@respx.mock
async def test_429_is_retried_after_the_delay_the_channel_asks_for(monkeypatch):
    waits = []
    route = respx.get(f"{BASE}/orders").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.01"}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    policy = RetryPolicy(max_attempts=3, initial_wait=5, jitter=0)
    http = client(retry=policy)
    original = policy.wait
    monkeypatch.setattr(RetryPolicy, "wait", lambda self, s: waits.append(original(s)) or 0)
    assert await http.request_json("GET", "/orders") == {"ok": True}
    assert route.call_count == 2
    assert waits == [0.01]
    assert http.stats.rate_limited == 1


@respx.mock
async def test_server_errors_are_retried_for_reads():
    route = respx.get(f"{BASE}/orders").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json=[]),
        ]
    )
    assert await client().request_json("GET", "/orders") == []
    assert route.call_count == 3


@respx.mock
async def test_a_non_idempotent_write_is_not_retried_after_a_server_error():
    route = respx.post(f"{BASE}/sales").mock(return_value=httpx.Response(500))
    with pytest.raises(TransientError):
        await client().request("POST", "/sales", json={})
    assert route.call_count == 1


@respx.mock
async def test_a_write_marked_idempotent_is_retried():
    route = respx.post(f"{BASE}/batch").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json={})]
    )
    await client().request("POST", "/batch", idempotent=True)
    assert route.call_count == 2


@respx.mock
async def test_a_write_that_never_reached_the_channel_is_retried():
    route = respx.post(f"{BASE}/sales").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={})]
    )
    await client().request("POST", "/sales")
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_are_not_retried(status):
    route = respx.get(f"{BASE}/orders").mock(return_value=httpx.Response(status))
    with pytest.raises(AuthError, match="check the channel's credentials"):
        await client().request("GET", "/orders")
    assert route.call_count == 1


@respx.mock
async def test_other_client_errors_are_permanent_and_say_what_the_channel_said():
    respx.get(f"{BASE}/orders").mock(return_value=httpx.Response(422, json={"error": "bad date"}))
    with pytest.raises(PermanentError, match="bad date") as info:
        await client().request("GET", "/orders")
    assert info.value.status_code == 422
    assert info.value.channel == "shop"


@respx.mock
async def test_retries_stop_after_the_policy_allows():
    route = respx.get(f"{BASE}/orders").mock(return_value=httpx.Response(429))
    with pytest.raises(RateLimitedError):
        await client().request("GET", "/orders")
    assert route.call_count == 3


@respx.mock
async def test_truncated_json_is_retried_like_a_dropped_connection():
    route = respx.get(f"{BASE}/orders").mock(
        side_effect=[
            httpx.Response(200, content=b'{"orders": [1, 2'),
            httpx.Response(200, json={"a": 1}),
        ]
    )
    assert await client().request_json("GET", "/orders") == {"a": 1}
    assert route.call_count == 2


@respx.mock
async def test_numbers_in_json_stay_exact():
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, content=b'{"price": 0.1}'))
    body = await client().request_json("GET", "/x")
    assert str(body["price"]) == "0.1"


@respx.mock
async def test_credentials_in_urls_never_reach_error_messages():
    respx.get(f"{BASE}/orders").mock(return_value=httpx.Response(404))
    with pytest.raises(PermanentError) as info:
        await client().request(
            "GET", "/orders", params={"consumer_secret": "cs_very_secret", "page": "2"}
        )
    assert "cs_very_secret" not in str(info.value)
    assert "page=2" in str(info.value)
    assert "cs_very_secret" not in (info.value.url or "")


def test_retry_after_takes_seconds_or_an_http_date():
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@respx.mock
async def test_a_redirect_is_not_taken_for_success():
    respx.put(f"{BASE}/sales/1").mock(
        return_value=httpx.Response(302, headers={"Location": "https://login.example.test/"})
    )
    with pytest.raises(PermanentError, match="redirected"):
        await client().request("PUT", "/sales/1")


@respx.mock
async def test_an_absurd_retry_after_does_not_stall_the_channel():
    from omnisync.http import RateLimiter

    limiter = RateLimiter(10, 10)
    route = respx.get(f"{BASE}/orders").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "86400"}),
            httpx.Response(200, json={}),
        ]
    )
    policy = RetryPolicy(max_attempts=2, initial_wait=0, jitter=0, max_retry_after=0.01)
    await client(retry=policy, limiter=limiter).request("GET", "/orders")
    assert route.call_count == 2
    assert parse_retry_after("inf") is None


@respx.mock
async def test_a_server_that_repeats_its_cursor_is_an_error_not_an_endless_loop():
    from omnisync.errors import InvalidPayloadError
    from omnisync.http import cursor_pages

    respx.get(f"{BASE}/orders").mock(
        return_value=httpx.Response(200, json={"orders": [], "next_cursor": "same"})
    )
    with pytest.raises(InvalidPayloadError, match="for ever"):
        async for _ in cursor_pages(client(), "/orders", items="orders"):
            pass


@respx.mock
async def test_a_download_streams_to_a_file_and_a_failed_attempt_leaves_nothing_behind(tmp_path):
    body = b"".join(b'{"line": %d}\n' % number for number in range(10_000))
    # The connection drops, then the server is busy, then the whole file comes.
    answers = iter(
        [
            None,
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, content=body),
        ]
    )

    def answer(request):
        item = next(answers)
        if item is None:
            raise httpx.ReadError("connection reset by peer", request=request)
        return item

    route = respx.get(f"{BASE}/export.jsonl").mock(side_effect=answer)
    http = client(retry=RetryPolicy(max_attempts=4, initial_wait=0, jitter=0))
    with (tmp_path / "export.jsonl").open("w+b") as file:
        file.write(b"left over from before")
        assert await http.download("/export.jsonl", file) == len(body)
    assert (tmp_path / "export.jsonl").read_bytes() == body
    assert route.call_count == 3
    assert http.stats.retries == 2
    assert http.stats.rate_limited == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_json_keeps_money_exact_from_bytes_in_any_json_encoding_and_from_text(encoding):
    text = '{"amount": 0.10, "name": "Café", "units": 3}'
    expected = {"amount": Decimal("0.10"), "name": "Café", "units": 3}
    assert json_loads(text.encode(encoding)) == expected
    assert json_loads(text) == expected
    with pytest.raises(ValueError, match="Expecting value"):
        json_loads(b'{"amount": ')


_AS_THE_STANDARD_LIBRARY = json.JSONDecoder(parse_float=Decimal)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # NaN and the infinities among them
    | st.decimals(allow_nan=False, allow_infinity=False).map(float)
    | st.text()  # lone surrogates among them
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_VALUES, st.booleans())
@example([float("nan"), float("inf")], True)
@example({"name": "\ud800"}, False)
def test_json_parses_any_text_as_the_standard_library_does(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    expected = _AS_THE_STANDARD_LIBRARY.decode(text)
    # NaN is not equal to itself: compare what each prints.
    assert repr(json_loads(text)) == repr(expected)
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # encodable as UTF-8
        assert repr(json_loads(text.encode())) == repr(expected)


@pytest.mark.parametrize(
    "text",
    [
        b'\xef\xbb\xbf{"a": 1.5}',  # a UTF-8 byte-order mark
        b'{"a": 1, "a": 2.50}',  # a key twice: the last one counts
        b"[" * 500 + b"]" * 500,  # deeper than jiter goes
        b'{"total": 12345678901234567890123456789.01}',
    ],
)
def test_json_parses_what_jiter_refuses_or_might_read_otherwise(text):
    assert repr(json_loads(text)) == repr(json.loads(text, parse_float=Decimal))


@pytest.mark.parametrize("text", [b'{"a": 1} trailing', b"[1,]", b'"\x01"', b""])
def test_json_that_is_malformed_fails_with_the_standard_librarys_error(text):
    with pytest.raises(json.JSONDecodeError):
        json_loads(text)


def test_json_takes_a_bytearray_and_refuses_what_is_not_text_as_the_standard_library_does():
    assert json_loads(bytearray(b'{"amount": 0.10}')) == {"amount": Decimal("0.10")}
    for content in (memoryview(b"[1]"), [49], 5):
        with pytest.raises(TypeError):
            json.loads(content)
        with pytest.raises(TypeError):
            json_loads(content)
