from django import template

register = template.Library()


@register.filter
def yen(amount) -> str:
    """Integer yen the Japanese way: ¥1,234,567 (negative: -¥5,000)."""
    if amount is None or amount == "":
        return "—"
    amount = int(amount)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,}"


@register.filter
def percent(value) -> str:
    return f"{value:.1f}%"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
