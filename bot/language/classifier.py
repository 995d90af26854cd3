"""The triage model: a second reader that scores a whole message for urgency.

The rules (`bot.language.triage`) raise the red flags whose words someone thought of; fresh
descriptions keep finding words nobody did. The triage model reads the message as a whole: a
logistic regression over its words and word pairs (TF-IDF, sublinear counts, unit length),
trained on labelled messages (`tools/train_triage.py`) and stored in content as JSON. It has
two heads: ``emergency`` (an emergency, against everything else) and ``urgent`` (urgent or an
emergency, against ordinary messages). The scanner raises the content's general emergency
flag from the first (`bot.language.safety`); the second is scored for ``nervebot explain``
and the training figures only. The model never lowers what a rule raised.

Features reproduce scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
stop_words=ignored, preprocessor=prepare)``
so that training there and scoring here agree (tested); scoring needs only numpy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from bot.content.model import TriageWeights

#: scikit-learn's default token: two or more word characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: Apostrophes, dropped before reading: "can't" is read as "cant", not as "can" and "t".
_APOSTROPHES = re.compile(r"[’‘`´']")


def prepare(text: str) -> str:
    """A text as the model reads it: lower-cased, without apostrophes (the vectorizer's
    ``preprocessor`` in training)."""
    return _APOSTROPHES.sub("", text.lower())


def words_of(text: str, ignored: frozenset[str] = frozenset()) -> list[str]:
    """The words of a text the model reads: two characters or more, less the ``ignored``."""
    return [w for w in _TOKEN.findall(prepare(text)) if w not in ignored]


def terms_of(text: str, ignored: frozenset[str] = frozenset()) -> list[str]:
    """The words (less the ``ignored`` ones) and adjacent word pairs of what remains, as the
    model counts them."""
    tokens = words_of(text, ignored)
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


@dataclass(frozen=True, slots=True)
class TriageScore:
    """The model's probabilities for one message: an emergency; urgent or an emergency."""

    emergency: float
    urgent: float


class TriageModel:
    """Scores messages with trained weights from content; build once per content bundle."""

    def __init__(self, weights: TriageWeights) -> None:
        import numpy as np  # here, not at import: the bot's first answer waits for imports

        self._np = np
        self._index = {term: i for i, term in enumerate(weights.terms)}
        self._ignored = frozenset(weights.ignored)
        table = np.array(list(weights.terms.values()), dtype=np.float64).reshape(-1, 3)
        self._idf = table[:, 0]
        order = {head: i for i, head in enumerate(weights.heads)}
        self._weights = table[:, [1 + order["emergency"], 1 + order["urgent"]]]
        self._bias = np.array([weights.bias[order["emergency"]], weights.bias[order["urgent"]]])

    def words(self, text: str) -> int:
        """How many words of ``text`` the model reads (its ignored words left out)."""
        return len(words_of(text, self._ignored))

    def score(self, text: str) -> TriageScore:
        """The probabilities that ``text`` describes an emergency, and something urgent."""
        np = self._np
        terms = terms_of(text, self._ignored)
        counts = Counter(i for t in terms if (i := self._index.get(t)) is not None)
        logits = self._bias.copy()
        if counts:
            rows = np.fromiter(counts, dtype=np.intp, count=len(counts))
            tf = np.array([1.0 + math.log(counts[i]) for i in counts])
            values = tf * self._idf[rows]
            values /= np.linalg.norm(values)
            logits += values @ self._weights[rows]
        emergency, urgent = (_sigmoid(float(x)) for x in logits)
        return TriageScore(emergency=emergency, urgent=urgent)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
