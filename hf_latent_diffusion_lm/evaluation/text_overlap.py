"""How new the synthetic free text is: near-copies (n-gram overlap with the closest real text) and distinct-n."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Sequence

WORD = re.compile(r"\w+|[^\w\s]")
DEFAULT_N = 3


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)] or ([tuple(words)] if words else [])


def max_ngram_overlap(real: Sequence[str], synthetic: Sequence[str], n: int = DEFAULT_N) -> list[float]:
    """For each synthetic text, the largest share of its word n-grams found in one real text (1: a near-copy)."""
    index = defaultdict(set)
    for position, text in enumerate(real):
        for gram in set(ngrams(text, n)):
            index[gram].add(position)
    overlaps = []
    for text in synthetic:
        grams = set(ngrams(text, n))
        shared = Counter(position for gram in grams for position in index.get(gram, ()))
        overlaps.append(max(shared.values()) / len(grams) if shared else 0.0)
    return overlaps


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of ``texts`` (Li et al., 2016): 1 means no n-gram repeats."""
    grams = [gram for text in texts for gram in ngrams(text, n)]
    return len(set(grams)) / len(grams) if grams else 0.0
