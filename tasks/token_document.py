"""Token-document relation: does the token's word also occur in another segment of its document?

The shards' ``tdr`` field holds the label, computed by the builder against the other sentences of
the document (``IGNORE`` for punctuation and stop words, which are not scored).
"""

from __future__ import annotations

from typing import ClassVar

from .base import register_task
from .token_fields import TokenFieldTask


@register_task
class TokenDocument(TokenFieldTask):
    name: ClassVar[str] = "token_document"
    field: ClassVar[str] = "tdr"
