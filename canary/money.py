"""Amounts as people read them: Stripe's smallest currency units (cents; whole yen) and
Salesforce's currency units, formatted alike."""

from __future__ import annotations


def format_amount(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return "an unknown amount"
    cur = (currency or "usd").upper()
    zero_decimal = cur in {"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"}
    value = amount if zero_decimal else amount / 100
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(cur)
    text = f"{value:,.0f}" if zero_decimal else f"{value:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {cur}"


def format_units(amount: float | int | str | None, currency: str | None = "usd") -> str:
    """An amount in currency units (Salesforce's Amount), formatted like Stripe's cents."""
    if amount is None:
        return "no amount"
    return format_amount(round(float(amount) * 100), currency)
