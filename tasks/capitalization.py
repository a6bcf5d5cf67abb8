"""Capitalization prediction (English): does the token's source word start with an upper-case letter?

The ids are those of the lower-cased text, so the case is not visible in the input; the shards'
``cap`` field holds the label (``IGNORE`` where there is no letter to judge).
"""

from __future__ import annotations

from typing import ClassVar

from .base import register_task
from .token_fields import TokenFieldTask


@register_task
class Capitalization(TokenFieldTask):
    name: ClassVar[str] = "capitalization"
    field: ClassVar[str] = "cap"
