"""Who acted on a quote. orders.services.transitions.Actor has the same shape and may be passed too."""

from dataclasses import dataclass
from typing import Protocol


class Actor(Protocol):
    label: str
    user: object | None


@dataclass(frozen=True)
class QuoteActor:
    label: str
    user: object | None = None

    @classmethod
    def staff(cls, user) -> "QuoteActor":
        return cls(label=f"staff:{user.get_username()}", user=user)

    @classmethod
    def system(cls, name: str) -> "QuoteActor":
        return cls(label=name)
