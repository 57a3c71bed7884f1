"""Record times: RFC 3339 UTC to epoch milliseconds, checked against the standard library."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import RecordError
from ledger.times import format_ts, parse_ts


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
       st.sampled_from(["", ".5", ".25", ".123", ".123456"]))
def test_parse_matches_timegm(when: dt.datetime, frac: str) -> None:
    text = when.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + "Z"
    expected = calendar.timegm(when.timetuple()[:6]) * 1000 + (int((frac[1:] + "000")[:3])
                                                                 if frac else 0)
    assert parse_ts(text) == expected


@given(st.integers(min_value=0, max_value=253402300799999))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_ts(format_ts(ms)) == ms


@pytest.mark.parametrize("text", ["2026-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
                                  "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
                                  "2026-01-01T24:00:00Z", "0000-01-01T00:00:00Z"])
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(RecordError, match="not a valid date"):
        parse_ts(text)


def test_leap_days_that_exist_are_accepted() -> None:
    assert parse_ts("2000-02-29T00:00:00Z") == calendar.timegm((2000, 2, 29, 0, 0, 0)) * 1000
    assert parse_ts("2024-02-29T12:00:00Z") == calendar.timegm((2024, 2, 29, 12, 0, 0)) * 1000
