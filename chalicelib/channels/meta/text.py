"""Fitting text to a Meta platform's limits: split long text, shorten titles.

Each platform has its own numbers (Messenger 2,000 characters a message,
WhatsApp 4,096, Instagram 1,000; titles of 20 or 24); the renderers pass them in.
Long text is split on paragraph, line and word boundaries rather than cut, so no
word of a balance or a transaction is lost.
"""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters at the most natural boundary."""
    chunks: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        window = remaining[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator, 0, limit)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        chunks.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining or not chunks:
        chunks.append(remaining)
    return chunks


def clip_title(title: str, limit: int) -> str:
    """Shorten a title to the platform's limit, marking the cut with an ellipsis."""
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"
