"""Splitting a first sync's bulk export into spans of creation time."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from omnisync_shopify._exports import creation_spans, span_search

MOMENTS = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@given(oldest=MOMENTS, seconds=st.integers(0, 10**8), parts=st.integers(1, 5))
def test_spans_hold_every_order_exactly_once_cut_on_whole_seconds(oldest, seconds, parts):
    newest = oldest + timedelta(seconds=seconds)
    spans = creation_spans(oldest, newest, parts)
    # As many as asked, unless there are fewer seconds between the first order and the last.
    assert len(spans) == min(parts, seconds + 1)
    # Open at both ends, each span starting where the one before ends: every moment, an
    # order placed while the export runs included, falls in exactly one.
    assert spans[0][0] is None and spans[-1][1] is None
    assert all(before[1] == after[0] for before, after in pairwise(spans))
    cuts = [upper for _, upper in spans[:-1]]
    assert all(oldest < cut <= newest for cut in cuts)
    assert all(a < b for a, b in pairwise(cuts))
    assert all(cut.microsecond == 0 for cut in cuts)


def test_a_span_is_searched_for_by_its_creation_times_in_utc():
    lower = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    upper = datetime(2026, 3, 2, 1, 0, tzinfo=UTC).astimezone()  # any zone: sent in UTC
    assert span_search((None, None)) is None
    assert span_search((lower, None)) == "created_at:>='2026-03-01T12:30:05Z'"
    assert span_search((None, upper)) == "created_at:<'2026-03-02T01:00:00Z'"
    assert span_search((lower, upper)) == (
        "created_at:>='2026-03-01T12:30:05Z' created_at:<'2026-03-02T01:00:00Z'"
    )
