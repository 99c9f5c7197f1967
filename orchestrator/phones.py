"""Phone numbers: parsed and normalised to E.164 with `phonenumbers`, checked against the toll-fraud guard."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from orchestrator.errors import ApiError

_COSTLY_TYPES = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN}


def normalise(raw: str, default_region: str, field: str = "phone") -> str:
    """E.164 form of a number typed by a person, or a 400 naming the field."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException:
        raise ApiError(400, "invalid_phone", "not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise ApiError(400, "invalid_phone", "not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_destination(e164: str, allowed_countries: tuple[str, ...]) -> None:
    """Refuse numbers outside the allowed countries and premium-rate numbers anywhere (toll fraud)."""
    number = phonenumbers.parse(e164)
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_countries:
        raise ApiError(403, "country_not_allowed", f"calls and messages to {region or 'this country'} are not enabled")
    if phonenumbers.number_type(number) in _COSTLY_TYPES:
        raise ApiError(403, "number_not_allowed", "premium-rate and shared-cost numbers cannot be called")


def masked(e164: str | None) -> str:
    """For logs: the last four digits only."""
    return f"***{e164[-4:]}" if e164 else "-"
