"""The content validator: every problem at once, each with file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.loader import load_content
from bot.errors import ContentError
from bot.moderation.validate import validate_dir
from tests.helpers import edit


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _messages(root: Path) -> list[str]:
    bundle, problems = validate_dir(root)
    assert bundle is None
    return [str(p) for p in problems]


def test_bundled_content_is_valid() -> None:
    from bot.content.loader import bundled_content_dir

    bundle, problems = validate_dir(bundled_content_dir())
    assert problems == []
    assert bundle is not None and len(bundle.version) == 12


def test_unknown_key_is_reported_at_its_line(content_copy: Path) -> None:
    faq = content_copy / "faq.yaml"
    edit(
        faq,
        "    answer: >-\n      Low magnesium",
        "    anwser: oops\n    answer: >-\n      Low magnesium",
    )
    line = _line_of(faq, "anwser: oops")
    assert any(
        m.endswith(f"faq.yaml:{line}:5: faq.0.anwser: unknown key 'anwser'")
        for m in _messages(content_copy)
    )


def test_wrong_type(content_copy: Path) -> None:
    triage = content_copy / "flows" / "triage.yaml"
    edit(triage, "adds: {magnesium: 1, stress_sleep: 2", "adds: {magnesium: lots, stress_sleep: 2")
    line = _line_of(triage, "magnesium: lots")
    assert any(
        f"triage.yaml:{line}:" in m and "valid integer" in m for m in _messages(content_copy)
    )


def test_dangling_next_unreachable_and_dead_end_all_at_once(content_copy: Path) -> None:
    triage = content_copy / "flows" / "triage.yaml"
    edit(
        triage,
        "next: q_duration\n            adds: {stress_sleep: 2",
        "next: q_nowhere\n            adds: {stress_sleep: 2",
    )
    text = triage.read_text(encoding="utf-8")
    weeks = text.index("          - id: weeks\n")
    nxt = text.index("            next: q_frequency\n", weeks)
    triage.write_text(
        text[:nxt] + text[nxt + len("            next: q_frequency\n") :], encoding="utf-8"
    )  # the 'weeks' choice loses its next
    edit(
        triage,
        "      - id: result\n",
        "      - id: orphan\n        outcome: {text: never reached}\n      - id: result\n",
    )
    messages = _messages(content_copy)
    line = _line_of(triage, "next: q_nowhere")
    assert any(f"triage.yaml:{line}:13: next 'q_nowhere' does not exist" in m for m in messages)
    assert any("dead end: choice 'weeks' has no next or action" in m for m in messages)
    assert any(
        f"triage.yaml:{_line_of(triage, 'id: orphan')}:" in m and "'orphan' is unreachable" in m
        for m in messages
    )


def test_duplicate_ids_and_dangling_nutrient(content_copy: Path) -> None:
    nutrients = content_copy / "nutrients.yaml"
    edit(nutrients, "  - id: calcium\n", "  - id: magnesium\n")
    messages = _messages(content_copy)
    assert any("duplicate nutrients id 'magnesium'" in m for m in messages)
    assert any("adds 'calcium': no nutrient or cause with that id" in m for m in messages)
    assert any("unknown nutrient 'calcium'" in m for m in messages)


def test_empty_text_and_missing_source(content_copy: Path) -> None:
    causes = content_copy / "causes.yaml"
    edit(
        causes,
        "      source: NHS, leg cramps; Merck Manual, muscle cramps\n",
        "      source: '  '\n",
    )
    edit(
        causes,
        "        source: NHS, twitching eyes and muscles\n      - text: >-\n          Regular sleep",
        "      - text: >-\n          Regular sleep",
    )
    messages = _messages(content_copy)
    assert any("causes.0.why.source: empty text" in m for m in messages)
    assert any("causes.1.facts.0.source: missing required key 'source'" in m for m in messages)


def test_yaml_syntax_error_has_position(content_copy: Path) -> None:
    (content_copy / "diets.yaml").write_text(
        "diets:\n  - id: vegan\n    name: [unclosed\n", encoding="utf-8"
    )
    messages = _messages(content_copy)
    assert any("diets.yaml:" in m and "YAML syntax error" in m for m in messages)


def test_duplicate_yaml_key(content_copy: Path) -> None:
    messages_file = content_copy / "messages.yaml"
    edit(
        messages_file, "  menu_label: Main menu\n", "  menu_label: Main menu\n  menu_label: Again\n"
    )
    line = _line_of(messages_file, "menu_label: Again")
    assert any(
        f"messages.yaml:{line}:3: duplicate key 'menu_label'" in m for m in _messages(content_copy)
    )


def test_missing_message(content_copy: Path) -> None:
    edit(content_copy / "messages.yaml", "  menu_label: Main menu\n", "")
    assert any("missing message 'menu_label'" in m for m in _messages(content_copy))


def test_choice_without_id(content_copy: Path) -> None:
    edit(
        content_copy / "flows" / "menu.yaml",
        "{id: about, label: About this bot",
        "{label: About this bot",
    )
    assert any(
        "menu.yaml:" in m and "missing required key 'id'" in m for m in _messages(content_copy)
    )


def test_problems_in_several_files_come_together(content_copy: Path) -> None:
    edit(
        content_copy / "faq.yaml",
        "    answer: >-\n      Low magnesium",
        "    anwser: x\n    answer: >-\n      Low magnesium",
    )
    edit(
        content_copy / "flows" / "triage.yaml",
        "next: q_duration\n            adds: {stress_sleep: 2",
        "next: q_nowhere\n            adds: {stress_sleep: 2",
    )
    edit(content_copy / "diets.yaml", "  - id: dairy_free\n", "  - id: vegan\n")
    messages = _messages(content_copy)
    assert any("unknown key 'anwser'" in m for m in messages)
    assert any("next 'q_nowhere' does not exist" in m for m in messages)
    assert any("duplicate diets id 'vegan'" in m for m in messages)


def test_yes_and_no_stay_words(content_copy: Path) -> None:
    bundle, problems = validate_dir(content_copy)
    assert problems == []
    assert bundle is not None
    negations = {
        p for m in bundle.safety.context.modifiers if m.category == "negated" for p in m.phrases
    }
    assert "no" in negations


def test_broken_transcript_is_a_problem(content_copy: Path) -> None:
    (content_copy / "tests" / "broken.yaml").write_text(
        "- name: x\n  steps:\n    - usr: hi\n", encoding="utf-8"
    )
    assert any("broken.yaml:3:7" in m and "unknown key 'usr'" in m for m in _messages(content_copy))


def test_invalid_content_never_loads(content_copy: Path) -> None:
    edit(content_copy / "safety.yaml", "urgency: emergency", "urgency: whenever")
    with pytest.raises(ContentError) as info:
        load_content(content_copy)
    assert info.value.problems and "safety.yaml" in str(info.value.problems[0])


def test_missing_folder(tmp_path: Path) -> None:
    assert "content folder not found" in _messages(tmp_path / "nope")[0]


def test_message_placeholders_are_checked(content_copy: Path) -> None:
    messages = content_copy / "messages.yaml"
    edit(messages, 'foods_label: "Foods with {name}"', 'foods_label: "Foods with {nutrient}"')
    edit(messages, 'source_line: "Source: {sources}"', 'source_line: "Source: {sources"')
    found = _messages(content_copy)
    assert any("message 'foods_label' uses {nutrient}; it can use {name}" in m for m in found)
    assert any("message 'source_line' has an unmatched brace" in m for m in found)


def test_braces_in_messages_that_are_never_filled_in_are_text(content_copy: Path) -> None:
    edit(
        content_copy / "messages.yaml",
        "  menu_label: Main menu\n",
        "  menu_label: Main menu {home}\n",
    )
    bundle, problems = validate_dir(content_copy)
    assert bundle is not None and problems == []


def test_a_rule_naming_an_unknown_concept_is_reported_at_its_line(content_copy: Path) -> None:
    safety = content_copy / "safety.yaml"
    edit(safety, "        - headache + worst\n", "        - headache + wrost\n")
    line = _line_of(safety, "headache + wrost")
    assert any(
        f"safety.yaml:{line}:" in m and "unknown concept 'wrost'" in m
        for m in _messages(content_copy)
    )


def test_a_rule_that_cannot_be_read_is_reported(content_copy: Path) -> None:
    edit(
        content_copy / "safety.yaml",
        "        - headache + worst\n",
        "        - headache + + worst\n",
    )
    assert any("cannot read" in m and "headache + + worst" in m for m in _messages(content_copy))


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels + 1):
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_bomb_is_refused_quickly_under_a_memory_cap(content_copy: Path) -> None:
    import resource
    import subprocess
    import sys
    import time

    bomb = content_copy / "bomb.yaml"
    bomb.write_text(_billion_laughs(), encoding="utf-8")
    assert bomb.stat().st_size < 1000

    def cap_memory() -> None:  # 1 GiB of address space: the unguarded bomb needs about 4
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "validate", str(content_copy)],
        capture_output=True, text=True, timeout=120, preexec_fn=cap_memory,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "bomb.yaml:" in done.stdout and "YAML bomb is refused" in done.stdout
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 60  # seconds, not the minutes an expansion takes


def test_an_oversized_file_is_refused_before_parsing(content_copy: Path) -> None:
    big = content_copy / "big.yaml"
    big.write_text("messages:\n" + "  # padding\n" * 250_000, encoding="utf-8")
    assert any("big.yaml:1:1" in m and "the limit is" in m for m in _messages(content_copy))


def test_a_complex_key_is_a_problem_not_an_expansion(content_copy: Path) -> None:
    (content_copy / "keys.yaml").write_text("? [a, b]\n: 1\n", encoding="utf-8")
    assert any("keys.yaml:1:3" in m and "plain word" in m for m in _messages(content_copy))


def test_report_fitting_fields_name_what_exists(content_copy: Path) -> None:
    causes = content_copy / "causes.yaml"
    text = causes.read_text(encoding="utf-8").replace("      cramp:\n", "      cramps:\n", 1)
    causes.write_text(text, encoding="utf-8")
    triage = content_copy / "flows" / "triage.yaml"
    text = triage.read_text(encoding="utf-8")
    triage.write_text(
        text.replace("taking: [vitamin_b6,", "taking: [vitamin_b66,"), encoding="utf-8"
    )
    messages = _messages(content_copy)
    assert any("why_for 'cramps': no flow choice names that symptom" in m for m in messages)
    assert any("taking 'vitamin_b66': no nutrient" in m for m in messages)


def test_a_name_split_at_its_thousands_comma_is_reported(content_copy: Path) -> None:
    # in a YAML [list], "20,000 iu" unquoted is two names, "20" and "000 iu"; a bare "20"
    # would then name high-dose vitamin D in "I'm 20" or "20 minutes"
    vocabulary = content_copy / "vocabulary.yaml"
    edit(vocabulary, '"20,000 iu"', "20,000 iu")
    line = _line_of(vocabulary, "20000 iu, 20,000 iu")
    messages = _messages(content_copy)
    assert any(f"vocabulary.yaml:{line}:" in m and "'20' is a bare number" in m for m in messages)
    assert any("'000 iu' is a bare number" in m and 'quote it: "20,000 iu"' in m for m in messages)


def test_no_name_in_the_bundled_vocabulary_is_a_bare_number() -> None:
    from bot.content.loader import bundled_content_dir
    from bot.language.retrieval import Vocabulary

    vocabulary = Vocabulary(load_content(bundled_content_dir()))
    assert vocabulary.find("I am 20, my mum is 60, 1 of us has had it for 25 days") == []
