"""Characters as tokens: the tokenizer of the CLRS-Text LM (plain Python)."""

from __future__ import annotations

import string

#: The CLRS-Text character set: newline and printable ASCII (algorithm and
#: field names, digits, ``.-`` of numbers, ``[]():,|`` and spaces).
CLRS_TEXT_CHARS = "\n" + "".join(c for c in string.printable if c.isprintable())


class CharTokenizer:
    """Characters to ids and back; ids 0-3 are ``<pad> <bos> <eos> <unk>``.

    >>> tok = CharTokenizer()
    >>> tok.decode(tok.encode("minimum:\\n", bos=True))
    'minimum:\\n'
    """

    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
    pad_id, bos_id, eos_id, unk_id = range(4)

    def __init__(self, chars: str = CLRS_TEXT_CHARS):
        if len(set(chars)) != len(chars):
            raise ValueError("the tokenizer's characters must be distinct")
        self.chars = chars
        self.stoi = {c: i + len(self.SPECIALS) for i, c in enumerate(chars)}
        self.itos = list(self.SPECIALS) + list(chars)
        self.newline_id = self.stoi.get("\n")

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        """Text of ``ids``, special tokens left out (``<unk>`` as U+FFFD)."""
        n = len(self.SPECIALS)
        return "".join(self.itos[i] if i >= n else ("\ufffd" if i == self.unk_id else "")
                       for i in (int(i) for i in ids))

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars, "specials": list(self.SPECIALS)}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        if data.get("type") != "char" or list(data.get("specials", [])) != list(cls.SPECIALS):
            raise ValueError(f"not a CharTokenizer: {data!r:.80}")
        return cls(data["chars"])

    def __eq__(self, other):
        return isinstance(other, CharTokenizer) and other.chars == self.chars
