"""EBNF expressions matching exactly the decimal numbers in a range, as the record format writes them.

Digit-by-digit range patterns (the classic regex construction for ``[lo, hi]``) keep constrained decoding exact:
a generated number is inside the data's range by construction, not by rejection after the fact.
Decimals reuse the construction on the fraction digits, bounded by the column's precision.

Why this exists rather than a JSON-Schema grammar: the table record format is not JSON (``{age: 39, ...}``, with
unquoted names and categories: fewer tokens per row), so a JSON-Schema grammar does not apply to it; these
expressions make an out-of-range number unwritable in that format.
"""

from __future__ import annotations

from decimal import Decimal


def _alternatives(options: list[str]) -> str:
    return options[0] if len(options) == 1 else "(" + " | ".join(options) + ")"


def _digits(count: int) -> str:
    return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def _sequence(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def fixed_width_range(low: str, high: str) -> str:
    """Digit strings of ``len(low)`` characters (leading zeros allowed) between ``low`` and ``high``."""
    if len(low) != len(high) or low > high:
        raise ValueError(f"Bad fixed-width range [{low}, {high}].")
    if not low:
        return ""
    first_low, first_high, width = low[0], high[0], len(low) - 1
    if first_low == first_high:
        return _sequence(f'"{first_low}"', fixed_width_range(low[1:], high[1:]))
    low_full, high_full = low[1:] == "0" * width, high[1:] == "9" * width
    options = []
    middle_start = first_low if low_full else chr(ord(first_low) + 1)
    middle_stop = first_high if high_full else chr(ord(first_high) - 1)
    if not low_full:
        options.append(_sequence(f'"{first_low}"', fixed_width_range(low[1:], "9" * width)))
    if middle_start <= middle_stop:
        digit = f'"{middle_start}"' if middle_start == middle_stop else f"[{middle_start}-{middle_stop}]"
        options.append(_sequence(digit, _digits(width)))
    if not high_full:
        options.append(_sequence(f'"{first_high}"', fixed_width_range("0" * width, high[1:])))
    return _alternatives(options)


def natural_range(low: int, high: int) -> str:
    """Non-negative integers in ``[low, high]`` written without leading zeros."""
    if not 0 <= low <= high:
        raise ValueError(f"Bad natural range [{low}, {high}].")
    options = []
    for width in range(len(str(low)), len(str(high)) + 1):
        start = max(low, 10 ** (width - 1) if width > 1 else 0)
        stop = min(high, 10**width - 1)
        options.append(fixed_width_range(str(start), str(stop)))
    return _alternatives(options)


def integer_range(low: int, high: int) -> str:
    """Integers in ``[low, high]`` (``-`` for negatives, never ``-0``)."""
    if low > high:
        raise ValueError(f"Empty integer range [{low}, {high}].")
    options = []
    if high >= 0:
        options.append(natural_range(max(low, 0), high))
    if low < 0:
        options.append(_sequence('"-"', natural_range(max(-high, 1), -low)))
    return _alternatives(options)


def _optional(expression: str, allowed: bool) -> str:
    return f"({expression})?" if allowed else expression


def _fraction(low: int, high: int, precision: int) -> str:
    """``"." digits`` (1 to ``precision`` digits) whose value times 10**precision is in ``[low, high]``."""
    if low == 0 and high == 10**precision - 1:
        return f'"." [0-9]{{1,{precision}}}' if precision > 1 else '"." [0-9]'
    options = []
    for width in range(1, precision + 1):
        scale = 10 ** (precision - width)
        start, stop = -(-low // scale), high // scale
        if start <= stop:
            options.append(fixed_width_range(str(start).zfill(width), str(stop).zfill(width)))
    return _sequence('"."', _alternatives(options))


def _unsigned_decimal_range(low: int, high: int, precision: int) -> str:
    """Non-negative decimals whose value times 10**precision is an integer in ``[low, high]``."""
    scale = 10**precision
    low_int, low_fraction = divmod(low, scale)
    high_int, high_fraction = divmod(high, scale)
    if low_int == high_int:
        fraction = _fraction(low_fraction, high_fraction, precision)
        return _sequence(f'"{low_int}"', _optional(fraction, low_fraction == 0))
    options = [_sequence(f'"{low_int}"', _optional(_fraction(low_fraction, scale - 1, precision), low_fraction == 0))]
    if low_int + 1 <= high_int - 1:
        options.append(_sequence(natural_range(low_int + 1, high_int - 1), f"({_fraction(0, scale - 1, precision)})?"))
    options.append(_sequence(f'"{high_int}"', f"({_fraction(0, high_fraction, precision)})?"))
    return _alternatives(options)


def decimal_range(low: int | float, high: int | float, precision: int) -> str:
    """Decimals in ``[low, high]`` with at most ``precision`` digits after the point (``precision=0``: integers).

    ``low`` and ``high`` must themselves have at most ``precision`` decimals (as a schema's range does).
    """
    if precision == 0:
        return integer_range(int(low), int(high))
    scale = Decimal(10) ** precision
    scaled_low, scaled_high = (Decimal(repr(v)) * scale for v in (low, high))
    if scaled_low != scaled_low.to_integral_value() or scaled_high != scaled_high.to_integral_value():
        raise ValueError(f"The range [{low}, {high}] has more than {precision} decimals.")
    low_units, high_units = int(scaled_low), int(scaled_high)
    if low_units > high_units:
        raise ValueError(f"Empty decimal range [{low}, {high}].")
    options = []
    if high_units >= 0:
        options.append(_unsigned_decimal_range(max(low_units, 0), high_units, precision))
    if low_units < 0:
        options.append(_sequence('"-"', _unsigned_decimal_range(max(-high_units, 1), -low_units, precision)))
    return _alternatives(options)
