"""NTP tasks: a corpus position turned into (context, ground-truth continuation, token boundaries)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NTPTask:
    """One next-token-prediction task.

    `target_text` is the document text from the start of the next token up to the end of
    `target_ids`; `boundaries` are the UTF-8 byte lengths of `target_text`'s prefixes that end
    exactly on a token boundary (ascending, the last one == len(target_text.encode())).
    A token owns the whitespace before it, as in byte-level BPE (" 42").
    """

    doc_id: int
    position: int  # index of the next token within its document
    context_ids: tuple[int, ...]
    context_text: str
    target_ids: tuple[int, ...]
    target_text: str
    boundaries: tuple[int, ...]
    entropy: float = float("nan")  # proxy top-k entropy at this position, when scored

    @property
    def next_token_text(self) -> str:
        """The decoded ground-truth next token (the first boundary's bytes)."""
        return self.target_text.encode("utf-8")[: self.boundaries[0]].decode("utf-8", errors="replace")
