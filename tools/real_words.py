"""Write content/real_words.yaml: common words that answering never reads as a typo of another.

Matching tolerates typos in words of five letters or more, so "magnesuim" is read as
"magnesium". A real word can sit just as close to a word of the content: "starting" to
"statin" ("just starting magnesium, how long until it works" was a question about a
medicine no card covers), "tables" to "tablets". When answering, a common word is read as
itself (with its stem or another ending: "twitchy" is still "twitch"), never as a typo.

The safety check and the flows' answers (a choice may raise a red flag) are left out on
purpose: there a common word may still be someone's typo of
a red-flag word ("struggling to breath", "took 20 tables", "grasping for air"), and missing
an emergency is worse than a needless alarm. Its few proven look-alikes ("should" is not
"shoulder") are in ``never_fuzzy`` in content/safety.yaml.

The list holds the common English words (pyspellchecker's English frequencies: seen at least
`MIN_COUNT` times) that the phrases of the topic router and retrieval's vocabulary would
otherwise read as a typo of another word.
Run it after adding phrases; a test compares the list with the content as it is.

    python tools/real_words.py           # write content/real_words.yaml
    python tools/real_words.py --check   # exit 1 when the list is out of date

Needs pyspellchecker (the ``train`` extra); the bot itself reads only the YAML list.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import Bundle, load_content  # noqa: E402
from bot.language.retrieval import Vocabulary  # noqa: E402
from bot.language.text import FUZZY_MIN_LEN, PhraseMatcher, same_but_ending  # noqa: E402
from bot.language.understand import Understanding  # noqa: E402

CONTENT = ROOT / "content"
OUT = CONTENT / "real_words.yaml"
#: How often pyspellchecker's English corpus must have seen a word for it to count as common.
MIN_COUNT = 1000

HEADER = """\
# yaml-language-server: $schema=./schema.json
# Real words: common words that answering reads as written, never as a typo of another word.
# Matching tolerates typos in longer words ("magnesuim" is "magnesium"), but a common word
# the person wrote is usually the word they meant: "starting" is not "statin". Each still
# matches with its stem or another ending ("twitchy" is "twitch"). Words seen at least
# {count} times in pyspellchecker's English word frequencies that the topic router or
# retrieval's vocabulary would otherwise read as a typo of another word.
# Not used by the safety check, where a common word may still be a typo of a red-flag word
# ("struggling to breath"): its look-alikes are `never_fuzzy` in safety.yaml.
# Written by: python tools/real_words.py (run it after adding phrases; a test checks it).
"""


def matchers(bundle: Bundle) -> Iterator[PhraseMatcher[Any]]:
    """Every phrase matcher that reads real words: the topic router's words and retrieval's
    entities (not the safety check's, and not the flows' answers, where a choice may raise a
    red flag)."""
    yield Understanding(bundle)._entities  # the tool reads the matchers the bot builds
    yield Vocabulary(bundle)._matcher


def lookalikes(vocabulary: Iterable[str], common: Iterable[str]) -> list[str]:
    """The ``common`` words that a matcher of ``vocabulary`` would read as a typo of another
    word (not only another ending of the same word), sorted."""
    matcher = PhraseMatcher([(word, None) for word in vocabulary])
    return sorted(
        word
        for word in common
        if len(word) >= FUZZY_MIN_LEN
        and word.isalpha()
        and any(not same_but_ending(word, other) for other in matcher.typos_of(word))
    )


def common_words(min_count: int = MIN_COUNT) -> list[str]:
    """English words seen at least ``min_count`` times (pyspellchecker's frequencies)."""
    from spellchecker import SpellChecker  # the train extra

    frequency = SpellChecker(language="en").word_frequency
    return [word for word, count in frequency.items() if count >= min_count]


def real_words(bundle: Bundle) -> list[str]:
    """The list as the content's phrases need it."""
    vocabulary = set().union(*(m.vocabulary for m in matchers(bundle)))
    return lookalikes(vocabulary, common_words())


def render(words: list[str]) -> str:
    """The YAML file: the header, then the words."""
    lines = [HEADER.format(count=f"{MIN_COUNT:,}"), "real_words:"]
    lines += [f"  - {word}" for word in words]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when out of date")
    args = parser.parse_args()
    text = render(real_words(load_content(CONTENT)))
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/real_words.py")
            sys.exit(1)
        print(f"{OUT.relative_to(ROOT)} is up to date")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {text.count(chr(10) + '  - ')} words")


if __name__ == "__main__":
    main()
