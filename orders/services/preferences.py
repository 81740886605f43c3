"""A person's choices about how the backlog looks: saved per user, not per browser."""

from orders.models import BacklogPreference


def backlog_density_set(*, user, density: str) -> BacklogPreference:
    """Remember the user's row density (orders.models.BacklogPreference.Density)."""
    if density not in BacklogPreference.Density.values:
        raise ValueError(f"unknown backlog density {density!r}")
    preference, _created = BacklogPreference.objects.update_or_create(user=user, defaults={"density": density})
    return preference
