from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.privacy.validation import parse_delta, parse_epsilon, parse_expiry, parse_mechanisms


def test_an_expiry_date_without_a_time_is_midnight_utc():
    assert parse_expiry("2030-01-01") == datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_expiry("2030-01-01 12:30") == datetime(2030, 1, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["2030-13-45", "tomorrow", "2030-01-01" * 10, 20300101, ["2030-01-01"]])
def test_it_refuses_an_expiry_that_is_not_a_date(raw):
    with pytest.raises(ApplicationError, match="expires_at must be a date"):
        parse_expiry(raw)


@pytest.mark.parametrize(
    "raw", ["-1", "NaN", "sNaN", "Infinity", "1e400", "one", True, None, [], {}, "0.1234567890123"]
)
def test_it_refuses_epsilons_that_are_not_plain_non_negative_amounts(raw):
    with pytest.raises(ApplicationError, match="epsilon"):
        parse_epsilon(raw)


def test_amounts_keep_their_exact_decimal_value():
    assert parse_epsilon(0.1) == Decimal("0.1")
    assert parse_delta("1e-9") == Decimal("1e-9")
    with pytest.raises(ApplicationError, match="below 1"):
        parse_delta(1)


def test_mechanisms_are_checked_against_the_known_ones():
    assert parse_mechanisms("laplace, gaussian") == ["gaussian", "laplace"]
    with pytest.raises(ApplicationError, match="Unknown mechanism"):
        parse_mechanisms(["laplace", "telepathy"])
