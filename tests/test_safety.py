"""The red-flag check: findings, their ConText reading, and the triage rules over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.loader import Bundle, bundled_content_dir, load_content, read_content
from bot.content.model import (
    Concept,
    ContextRules,
    Modifier,
    RedFlag,
    Safety,
    parse_rule,
)
from bot.events import Urgency
from bot.language.findings import Reader
from bot.language.safety import RedFlagScanner
from bot.language.text import PhraseMatcher, words

BUNDLE = load_content(bundled_content_dir())
SCANNER = RedFlagScanner(BUNDLE.safety)
SHIPPED = RedFlagScanner.for_bundle(BUNDLE)  # with the triage model, as the bot runs it
FLAG_PHRASES = [
    (flag.id, phrase.replace("...", "really"))
    for flag in BUNDLE.safety.red_flags
    for phrase in flag.phrases
]


def _flags(text: str) -> set[str]:
    return {h.flag.id for h in SCANNER.scan(text)}


@pytest.mark.parametrize(("flag_id", "phrase"), FLAG_PHRASES)
def test_every_content_phrase_raises_its_flag(flag_id: str, phrase: str) -> None:
    assert flag_id in _flags(f"help, {phrase} right now")


# --------------------------------------------------------------------------- a small safety set


def _safety(*, when: tuple[str, ...], concepts: list[tuple[str, str, list[str]]]) -> Safety:
    return Safety(
        context=ContextRules(
            modifiers=(
                Modifier(category="negated", direction="forward", scope=4, phrases=("no", "not")),
                Modifier(category="historical", direction="backward", scope=6, phrases=("as a kid",)),
                Modifier(category="hypothetical", direction="forward", scope=6, phrases=("signs of",)),
                Modifier(category="uncertain", direction="forward", scope=4, phrases=("maybe",)),
            ),
            pseudo=("not sure",),
            terminators=("but",),
            idioms=("heart skipped a beat",),
        ),
        concepts=tuple(Concept(id=i, kind=k, phrases=tuple(p)) for i, k, p in concepts),
        escalation={Urgency.EMERGENCY: "call", Urgency.URGENT: "today"},
        red_flags=(
            RedFlag(id="flag", name="n", urgency=Urgency.EMERGENCY, when=when, text="t", source="s"),
        ),
    )  # fmt: skip


STROKE = _safety(
    when=("weakness + 2 of face|arm|leg", "weakness + one_side"),
    concepts=[
        ("weakness", "symptom", ["weak", "numb"]),
        ("face", "site", ["face"]),
        ("arm", "site", ["arm"]),
        ("leg", "site", ["leg"]),
        ("one_side", "side", ["left side", "one side"]),
        ("heart", "symptom", ["heart skipped"]),
    ],
)


@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("my arm and leg went weak", True),
        ("my arm went weak", False),  # one site is not enough for this rule
        ("weak on the left side", True),
        ("my arm is weak. My leg hurts.", False),  # symptoms combine within a sentence
        ("no weakness in my arm or leg", False),  # negated
        ("not sure why but my arm and leg are weak", True),  # pseudo-trigger, then a terminator
        ("my arm and leg went weak as a kid", False),  # historical
        ("what are the signs of weak arm and leg", False),  # asked about
        ("maybe my arm and leg are weak", True),  # uncertain still counts
        ("my arm and face are numb", True),
    ],
)
def test_rules_combine_current_findings(text: str, raised: bool) -> None:
    assert bool(RedFlagScanner(STROKE).scan(text)) is raised


def test_a_modifier_leaves_the_concepts_it_never_modifies() -> None:
    """`Modifier.never`: "he keeps telling me" reports an opinion ("twitching means als") but
    a wish to die told to a carer is a disclosure."""
    rules = dict(
        when=("death_wish", "weakness"),
        concepts=[("death_wish", "symptom", ["rather not be here"]),
                  ("weakness", "symptom", ["weak"])],
    )  # fmt: skip
    base = _safety(**rules)  # type: ignore[arg-type]
    told = Modifier(category="reported", direction="forward", scope=8,
                    phrases=("keeps telling me",), never=("death_wish",))  # fmt: skip
    safety = base.model_copy(
        update={"context": base.context.model_copy(
            update={"modifiers": (*base.context.modifiers, told)})}
    )  # fmt: skip
    scanner = RedFlagScanner(safety)
    assert scanner.scan("dad keeps telling me he would rather not be here")
    assert not scanner.scan("dad keeps telling me he is weak from low magnesium")


def test_a_moderator_is_told_of_a_modifier_naming_an_unknown_concept(content_copy: Path) -> None:
    path = content_copy / "safety.yaml"
    text = path.read_text(encoding="utf-8")
    assert "never: [death_wish, despair, suicidal, intent]" in text
    broken = text.replace("never: [death_wish, despair, suicidal, intent]", "never: [death_wsh]")
    path.write_text(broken, "utf-8")
    messages = [str(p) for p in read_content(content_copy).problems]
    assert any("never names unknown concept 'death_wsh'" in m for m in messages), messages
    # a flag's own phrases are a concept only where the flag has phrases (seizure has none)
    path.write_text(broken.replace("never: [death_wsh]", "never: [flag_seizure]"), "utf-8")
    messages = [str(p) for p in read_content(content_copy).problems]
    assert any("never names unknown concept 'flag_seizure'" in m for m in messages), messages
    path.write_text(broken.replace("never: [death_wsh]", "never: [flag_paralysis]"), "utf-8")
    assert not [p for p in read_content(content_copy).problems if "flag_paralysis" in str(p)]


def test_idioms_are_not_findings() -> None:
    reader = RedFlagScanner(STROKE).reader
    assert [f.concept for f in reader.read("my heart skipped a beat").findings] == []


@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("my head is in the worst pain", True),  # "worst" sits in the gap of "head ... pain"
        ("my head pain is the worst", True),
        ("my head is in pain", False),  # nothing but the gap phrase
        ("worst head pain", True),
    ],
)
def test_a_gap_s_words_belong_to_no_phrase(text: str, raised: bool) -> None:
    safety = _safety(
        when=("headache + worst",),
        concepts=[("headache", "symptom", ["head ... pain"]), ("worst", "severity", ["worst"])],
    )
    assert bool(RedFlagScanner(safety).scan(text)) is raised


@pytest.mark.parametrize(
    ("text", "raised"), [("my head is in pain", True), ("my head is not in pain", False)]
)
def test_a_negation_in_a_gap_negates_the_phrase(text: str, raised: bool) -> None:
    safety = _safety(when=("headache",), concepts=[("headache", "symptom", ["head ... pain"])])
    assert bool(RedFlagScanner(safety).scan(text)) is raised


def test_a_short_gap_spans_two_words_at_most() -> None:
    """A ".." gap in a phrase spans up to two words ("swallowed the little batteries"), a
    "..." gap up to four: "swallowed a few small batteries" holds only the long one."""
    short = PhraseMatcher([("swallowed .. batteries", 1)])
    long = PhraseMatcher([("swallowed ... batteries", 1)])
    assert short.find(words("he swallowed batteries"))
    assert short.find(words("he swallowed the little batteries"))
    assert not short.find(words("he swallowed a few small batteries"))
    assert long.find(words("he swallowed a few small batteries"))


def test_context_findings_count_across_sentences() -> None:
    safety = _safety(
        when=("surgery + tingling",),
        concepts=[("surgery", "context", ["thyroid op"]), ("tingling", "symptom", ["tingling"])],
    )
    assert RedFlagScanner(safety).scan("Thyroid op on Monday. Now tingling lips.")


@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("Her words are muddled. It came on suddenly.", True),  # the next sentence says how
        ("Her words are muddled. Suddenly.", True),
        ("Her words are muddled. My leg hurts. It came on suddenly.", False),  # told for the leg
        ("It came on suddenly. Her words are muddled.", False),  # only the sentences before it
        ("Her words are muddled. It came on suddenly as a kid.", False),  # not current
        ("Her words are muddled. It was the worst.", False),  # severity is not lent
        ("Her words are muddled. Does that come on suddenly?", False),  # a question
        ("Her words are muddled. Suddenly my partner called me from work.", False),  # not them
        ("Her words are muddled. We ate. It came on suddenly.", True),  # until a symptom
    ],
)
def test_a_sentence_naming_no_symptom_tells_how_the_last_one_came(text: str, raised: bool) -> None:
    safety = _safety(
        when=("confusion + sudden", "confusion + worst"),
        concepts=[
            ("confusion", "symptom", ["muddled"]),
            ("pain", "symptom", ["hurts"]),
            ("sudden", "onset", ["suddenly", "came on suddenly"]),
            ("worst", "severity", ["worst"]),
        ],
    )
    assert bool(RedFlagScanner(safety).scan(text)) is raised


@pytest.mark.parametrize(
    ("text", "concept", "value"),
    [
        ("cramp for 20 min", "duration", 20),
        ("cramp for 20min", "duration", 20),
        ("for over an hour", "duration", 60),
        ("half an hour", "duration", 30),
        ("since 3 days", "duration", 3 * 1440),
        ("my 3 yr old", "age", 3),
        ("my 2yo", "age", 2),
        ("took 20 of them", "count", 20),
        ("lasted 1.5 hours", "duration", 90),
        ("a couple of hours", "duration", 120),
        ("my daughter is 3", "age", 3),
        ("my son (20 months)", "age", 20 / 12),
        ("started 20 mins ago and still locked", "duration", 20),
        ("my pulse is like 35", "pulse", 35),
        ("heart rate 160 and dizzy", "pulse", 160),
        ("it says 42 bpm", "pulse", 42),
        ("sats 88 pulse 40 dizzy", "pulse", 40),
        ("started shaking while sleeping for 6 minutes now", "duration", 6),
        ("potassium came back 3.3 on my bloods", "potassium_level", 3.3),
        ("calcium really low, 1.8, and tingling", "calcium_level", 1.8),
        ("my sodium is 118", "sodium_level", 118),
        ("my calcium was 8.016 on a US lab", "calcium_level", 2.0),  # mg/dL read as mmol/L
        ("my b12 came back at 98", "b12_level", 98),
        ("my 6 week old", "age", 6 * 7 / 365),  # weeks in years
        ("our 10 day old baby", "age", 10 / 365),
        ("a temp of 38.6 tonight", "body_temp", 38.6),
        ("thermometer says 38", "body_temp", 38),
        ("she is 38.5 degrees and floppy", "body_temp", 38.5),
        ("a fever of 212 f", None, None),  # not a body's temperature
        ("taking 50,000 IU vitamin D every day", "vitamin_d_iu", 50000),
        ("vitamin d 50,000 iu weekly", "vitamin_d_iu", 50000 / 7),
        ("250 mcg of vitamin d3", "vitamin_d_iu", 10000),
        ("been taking 200mg of b6 a day", "b6_mg", 200),
        ("taking 50,000iu of vitamin d3", "vitamin_d_iu", 50000),  # glued, with a comma
        ("b6 100 mg", "b6_mg", 100),
        ("20000 iu d3 for a week now", "vitamin_d_iu", 20000),  # how long, not how often
        ("vitamin d 50,000 iu every 2 weeks", "vitamin_d_iu", 50000 / 14),
        ("d3 10000 iu twice a week", "vitamin_d_iu", 10000 / 3.5),
        ("100,000 iu vitamin d every 3 months", "vitamin_d_iu", 100000 / 90),
        ("my son is 6 weeks and has a temp of 38.5", "age", 6 * 7 / 365),
        ("daughter is 6, fever of 39", "age", 6),  # a son or daughter before "is"
        ("son (6 weeks) has a temp", "age", 6 * 7 / 365),  # a baby's age between brackets
        ("our daughter, 7 weeks, feels hot", "age", 7 * 7 / 365),  # or commas
        ("grandson, 2 months, has a fever", "age", 2 / 12),
        ("newborn (3 weeks) feels hot", "age", 3 * 7 / 365),
        ("our baby (6 weeks) has a temp and the cat is on her", "age", 6 * 7 / 365),
        ("my son (6 weeks) and daughter (3) both have temps", "age", 6 * 7 / 365),
        ("had a fever so i took 40 of them", "count", 40),  # a count, not a temperature
        ("temperature normal, pulse 40 and dizzy", "pulse", 40),
        ("fever for 36 hours", "duration", 36 * 60),
    ],
)
def test_measures_are_read_from_numbers(
    text: str, concept: str | None, value: float | None
) -> None:
    took = Concept(id="ingestion", kind="context", phrases=("took",))
    people = Concept(id="someone_else", kind="person", phrases=("my daughter", "my son"))
    reader = Reader(
        [took, people], ContextRules(modifiers=STROKE.context.modifiers), counted=["ingestion"]
    )
    found = {f.concept: f.value for f in reader.read(text).findings}
    if concept is None:
        assert not {"body_temp", "age", "vitamin_d_iu", "b6_mg"} & found.keys()
        return
    assert found.get(concept) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "its 38 degrees outside and the baby is fine",  # the weather
        "its 102 degrees and the baby is fussy",
        "38 degrees in the shade today",
        "ate some 2 day old chicken and now a fever",  # food, not a baby
        "had a fever so i took 40 of them",
        "for 6 weeks old injuries have hurt",
        "took 38 of them",
        "I am 8 weeks into training",  # a length of time, not a baby's age
        "my son is 3 days into a cold and has a temp",  # a time into something
        "my daughter is 16 weeks pregnant with a temperature",
        "my daughter is 3 months pregnant and has a fever",
        "my son is 2 weeks post op",
        "my son is 6 foot 4 and has a fever",  # a height
        "gave my son 2 of my magnesium tablets",  # a count
        "my son is 3 weeks back from uni with a temperature",
        "my son 6 weeks ago had a fever",  # a time, not an age told beside him
        "daughter 2 weeks of a temperature now",
        "my son, 3 days with a fever",
        "son 3 days vomiting and hot",  # how long, not how old: no commas or brackets
        "son couple of days poorly and hot",
        "my boy, 8 weeks, is a cocker spaniel with a temp",  # a pet
        "cramps (2 weeks) in my legs and a temp",
        "my son every 3 months gets a fever",  # how often, not how old
        "my daughter for 2 months, has had a fever on and off",  # how long
        "my daughter for about 2 months, has had a fever on and off",  # hedged, still how long
        "my boyfriend is nearly 3 months older than me and has a fever",
    ],
)
def test_numbers_that_are_not_a_temperature_or_a_babys_age(text: str) -> None:
    took = Concept(id="ingestion", kind="context", phrases=("took",))
    people = Concept(id="someone_else", kind="person", phrases=("my daughter", "my son"))
    reader = Reader(
        [took, people], ContextRules(modifiers=STROKE.context.modifiers), counted=["ingestion"]
    )
    found = {f.concept for f in reader.read(text).findings if f.kind == "measure"}
    assert not {"body_temp", "age"} & found


@pytest.mark.parametrize(
    "text",
    [
        "magnesium 400 mg and vitamin d",  # magnesium is named nearer
        "vitamin d and magnesium 400mg",
        "b12 1000 mcg, no b6",
        "i walked 200 m to the shop for vitamin d",  # not a dose unit
    ],
)
def test_an_amount_of_something_else_is_not_a_vitamins_dose(text: str) -> None:
    reader = Reader([], ContextRules(modifiers=STROKE.context.modifiers))
    found = {f.concept for f in reader.read(text).findings if f.kind == "measure"}
    assert not {"vitamin_d_iu", "b6_mg"} & found


@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("my wife has had d&v for 2 days, now shes getting bad cramps in her calves", True),
        ("D+V since yesterday and my hands are cramping", True),
        ("d / v all night, now my legs keep cramping", True),
        ("v&d since sunday, weak and cramping", True),
        ("low vit d and v tired, legs cramp at night sometimes", False),  # "v" is "very"
        ("vit d & v low iron, the odd cramp in my feet", False),
        ("d&v last month, all fine now, just wondering about magnesium", False),
        ("d&v24hrs now cramps", True),
        ("d&vs all week, so weak", True),
        ("no d&v, just cramps at night", False),  # a denial holds
        ("not had any d&v, legs cramp at night though", False),
        ("bloods back, low vit. d & v low b12. legs weak and tingly", False),
        ("Vit-D & v low b12 on my bloods, legs weak and tingly for months", False),
        ("v = d/t so t = d/v lol, got cramp in my hand from writing", False),
    ],
)
def test_d_and_v_written_with_its_sign_is_fluid_loss(text: str, raised: bool) -> None:
    assert ("fluid_loss" in _flags(text)) is raised, text


@pytest.mark.parametrize(
    "text",
    [
        "I take 400mg since 2019",
        "took it at 10",  # a time
        "took one every 20 minutes",  # how often
        "took it 30 minutes ago",  # when, not how long
        "I took 2 for 3 years",  # a length of time, not an age
    ],
)
def test_numbers_that_are_not_counts_lengths_or_ages(text: str) -> None:
    took = Concept(id="ingestion", kind="context", phrases=("took",))
    reader = Reader([took], ContextRules(modifiers=STROKE.context.modifiers), counted=["ingestion"])
    found = {f.concept: f.value for f in reader.read(text).findings if f.kind == "measure"}
    assert found.get("count", 0) < 5 and "age" not in found and found.get("duration", 0) < 30


@pytest.mark.parametrize(
    "text",
    [
        "I take potassium 2 tablets a day",  # a dose, not a result
        "potassium 99 mg tablets",
        "potassium 3 and magnesium 2",  # a result has a decimal point
        "sodium 50 mg",
        "potassium 20 mmol, then 3.1 later",  # another number came first
        "calcium 1.2 grams a day",  # an intake
        "potassium: 2.5 bananas a day",
        "b12 1000 mcg tablets",  # a dose, not a result
        "b12 fine, ferritin 45 and my hands tingle",  # another test's result
        "been taking b12 for 30 days",  # a length of time
        "sodium 2 weeks ago was fine",
    ],
)
def test_a_dose_or_a_count_is_not_a_blood_result(text: str) -> None:
    reader = Reader([], ContextRules(modifiers=STROKE.context.modifiers))
    found = {f.concept for f in reader.read(text).findings if f.kind == "measure"}
    assert not {"potassium_level", "sodium_level", "calcium_level", "b12_level"} & found


@pytest.mark.parametrize(
    "rule",
    [
        "a + b",
        "2 of a|b|c",
        "duration>=10min<1d",
        "count>=5 + pills",
        "age<12",
        "potassium_level<2.5",
    ],
)
def test_rule_syntax(rule: str) -> None:
    assert parse_rule(rule)


@pytest.mark.parametrize("rule", ["a +", "3 of a|b", "count>=5min", "duration=>4", "A|b"])
def test_bad_rule_syntax_is_an_error(rule: str) -> None:
    with pytest.raises(ValueError):
        parse_rule(rule)


def test_a_measure_can_be_an_unless_term() -> None:
    terms = parse_rule("age<0.25 + fever + !body_temp<37.5")
    assert (
        terms[2].unless and terms[2].measure == "body_temp" and str(terms[2]) == "!body_temp<37.5"
    )
    with pytest.raises(ValueError):
        parse_rule("!body_temp<37.5")  # a rule needs one term without '!'
    safety = _safety(when=("fever + !body_temp<37.5",), concepts=[("fever", "symptom", ["temp"])])
    assert RedFlagScanner(safety).scan("she has a temp of 38.4")
    assert not RedFlagScanner(safety).scan("she has a temp of 36.8, normal")


# --------------------------------------------------------------------------- the shipped content


@pytest.mark.parametrize(
    ("text", "flag_id"),
    [
        ("siezure", "seizure"),
        ("I had a seizur", "seizure"),
        ("cant breath", "chest_breathing"),
        ("I CAN’T BREATHE", "chest_breathing"),
        ("heart racing and my legs are weak", "palpitations"),
        ("face drooping", "stroke"),
        ("face dropping on the left", "stroke"),
        ("I passed out", "unconscious"),
        ("without any warning I collapsed", "unconscious"),
        ("no, and now my chest pain is worse", "chest_breathing"),
        ("not sure if it was a seizure", "seizure"),
        ("Convulsions!!", "seizure"),
        ("my left arm and leg went weak suddenly", "stroke"),
        ("my toddler swallowed some of my magnesium tablets", "poisoning"),
        ("I took a whole bottle of vitamin D", "poisoning"),
        ("my dad's face is going down on one side", "stroke"),
        ("my son is fitting", "seizure"),
        ("i don't really want to be alive anymore", "low_mood"),
        # lay words of the eighteenth session's round 74 (its misses, in other words here)
        ("my wee has gone pink today, no pain", "blood_in_urine"),
        ("theres blood in my pee since this morning", "blood_in_urine"),
        ("34 weeks pregnant and the soles of my feet are so itchy at night", "pregnancy_itch"),
        ("on water tablets, leg cramps and my heart feels skippy", "cramps_heart"),
        ("my brother texted goodbye and im sorry, now hes not answering his phone", "self_harm"),
        # new rules from round 75's first run (its misses, in other words here)
        ("my little one is 6 wks and 38.2 on the thermometer", "young_baby_fever"),
        ("my 2 year old spilt hot tea all over his chest and the skin is peeling", "serious_burn"),
        ("burnt my arm on the oven tray, theres a blister the size of my palm", "burn_care"),
        ("my 9 year old is always thirsty, peeing loads and has lost weight", "diabetes_signs"),
        ("just back from ghana and ive got a fever and the shivers", "malaria_risk"),
        ("my knee is red hot and swollen, no injury at all", "hot_joint"),
        ("my 5 week old has been projectile vomiting after every feed", "baby_projectile"),
        ("grandad has a uti and is much more muddled than usual today", "confused_water_infection"),
        # round 76's misses, in other words here
        ("sliced my finger, blood spurting out and its soaked two towels", "heavy_bleeding"),
        (
            "my ear went muffled suddenly this morning, hearing loss on that side",
            "sudden_hearing_loss",
        ),
        ("a cat bit my wrist and it punctured the skin", "animal_bite_care"),
        ("my toddler's eyelid is swollen and red hot and he has a fever", "eye_swelling_fever"),
        ("im type 1 and really thirsty, peeing loads since yesterday", "diabetes_signs"),
        ("my 6 year old fell off his bike and wont put weight on his foot", "possible_fracture"),
        ("the red patch on my calf has gone past the pen line, its hot", "wound_infection"),
        # the fourth review: bleeding split from its verb, hearing lost overnight
        ("cut my arm on a broken window and blood is pumping out, cant stop it", "heavy_bleeding"),
        ("woke up deaf in my right ear this morning", "sudden_hearing_loss"),
        # round 79's misses, in other words here
        ("been saving them up for weeks, my pills, and the plan is tonight", "self_harm"),
        ("wrote my notes and got the rope ready", "self_harm"),
        ("my asthma is flaring, done 10 puffs and still wheezing", "asthma_attack"),
        ("having an asthma attack and the inhaler is not helping at all", "asthma_attack"),
        ("dad's pulse is 40 and he's really drowsy and muddled", "cramps_heart"),
        ("gone deaf in my right ear since yesterday, no cold", "sudden_hearing_loss"),
        ("8 weeks pregnant and bleeding a little since this morning", "pregnancy_bleeding"),
        # the nineteenth session's review: a plan's weak words with the crisis said otherwise
        ("bought a rope today. im done", "self_harm"),
        ("pills lined up on the desk. im so tired of it all", "self_harm"),
        ("im going to do it tonight", "self_harm"),
        ("written the letters, going to do it this weekend", "self_harm"),
        ("stockpiling my sleeping pills, had enough of everything", "self_harm"),
        ("how many of my tablets it would take, i just want to not exist", "self_harm"),
        ("im going to hang myself", "self_harm"),
        ("im going to end it on friday", "self_harm"),
        ("im not coming back tonight", "self_harm"),
        ("reading fanfic to distract myself, want to end it all tonight", "self_harm"),
        ("bad asthma attack, salbutamol not working at all", "asthma_attack"),
        ("my nan's pulse is 38 and she keeps nodding off mid sentence", "cramps_heart"),
        ("woke up and cant hear out of my right ear, room spinning", "sudden_hearing_loss"),
    ],
)
def test_misspellings_and_tricky_phrasings_escalate(text: str, flag_id: str) -> None:
    assert flag_id in _flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "no chest pain, just an eyelid twitch",
        "I don't have chest pain or shortness of breath",
        "never had a seizure",
        "there's no numbness on one side",
        "I painted the fence and my arm cramps",
        "my eyelid keeps twitching",
        "what foods have potassium",
        "do water pills cause cramps",
        "can PPIs cause spasms",
        "I drink a lot of coffee",
        "my calf cramps at night",
        "is it serious?",
        "what are the signs of a stroke?",
        "had a seizure as a kid, fine since",
        "used to get chest pains, sorted now",
        "my brother says eye twitching means a stroke",
        "my heart skipped a beat when I saw the bill",
        "I'm confused about which magnesium to take",
        # what a supplement might do is asked about, not had
        "is mag citrate any good for cramps or is it just gonna give me the runs lol",
        "will magnesium give me diarrhoea and cramps",
        # how often, not a baby's age
        "my nan (82) hates her b12 jabs every 3 months, could she switch to tablets?",
        # colours from food or a period; idioms; a plot; an activity's length
        "ate loads of beetroot and my wee is pink, is that normal",
        "on my period so theres a bit of blood in my wee sample, will it matter",
        "had a stroke of genius and took my magnesium at night",
        "watched a film where a man has a stroke, how common are they",
        "played fifa for 5 hours and now my thumb is cramping lol",
        "calves cramp after 12 hours on my feet at work",
        "im not pregnant, just itchy hands and feet from the washing up liquid",
        "rolled my ankle playing netball, its swollen and a bit red",
        "burnt my toast again, is charcoal bad for you",
        "i drink loads of water and pee a lot, is that normal when training",
        "got back from kenya a month ago, loved it, any tips for jet lag cramps",
        # an age and sex signed in brackets is no length: "(58m)" is not 58 minutes
        "he weighs 38.5, no fever, but he wont put weight on his leg after the match",
        "bmi is 38.4, no fever, but it burns a bit when i wee after coffee",
        "atorvastatin and leg cramps, is it the statin or am i just getting old (58m)",
        "68m on simvastatin 40mg, leg cramps at night 2-3 times a week",
    ],
)
def test_benign_negated_past_and_asked_about_text_does_not_escalate(text: str) -> None:
    assert SCANNER.scan(text) == []


def test_most_urgent_first(bundle: Bundle) -> None:
    hits = SCANNER.scan("my heart is racing, my legs are weak and I had a seizure")
    assert [h.urgency.value for h in hits][:1] == ["emergency"]
    assert {h.flag.id for h in hits} >= {"seizure", "palpitations"}


def test_each_hit_names_the_rule_that_raised_it() -> None:
    hit = SCANNER.scan("my left arm and leg went weak suddenly")[0]
    assert hit.flag.id == "stroke" and "+" in hit.rule


def test_the_experiencer_is_kept_and_still_escalates() -> None:
    assert SCANNER.scan("my dad can't breathe")[0].urgency is Urgency.EMERGENCY


def test_a_multi_word_terminator_is_a_phrase_not_its_words() -> None:
    # "and now" ends a scope; "and" alone does not
    assert SCANNER.scan("what's the difference between a twitch and a seizure") == []


def test_an_unless_term_keeps_hypnic_jerks_out() -> None:
    assert SCANNER.scan("his whole body jerks right as he's drifting off") == []
    assert _flags("his whole body is jerking") == {"seizure"}


def test_chat_spellings_apply_to_content_phrases_too() -> None:
    # "doesnt" is read as "dont" in messages and in the phrases it is matched against
    assert "confusion_cramps" not in _flags("she doesn't know where she is")
    assert "stroke" in _flags("now she doesn't know where she is, it came on over the last hour")


@pytest.mark.parametrize(
    "text",
    [
        "my wife suddenly could not find her words",  # a spelling of two words
        "my wife suddenly couldn't find her words",
        "my wife suddenly cannot find her words",
    ],
)
def test_could_not_and_cannot_read_as_cant(text: str) -> None:
    # the phrases say "cant find her words"; "could not" is not a negation of what follows
    assert _flags(text) == {"stroke"}
    assert _flags("my wife suddenly cant find her words") == {"stroke"}


# An adversarial reviewer's messages for the narrowed lithium and haemolysed-potassium rules
# (a fine tremor on lithium is common; a burst sample reads potassium high): rules alone,
# without the triage model, must still ask for advice today.
STILL_URGENT = [
    "im on lithium and ive got a new tremor in my hands, never had it before",
    "on lithium and my hands are shaking so much i cant hold a cup of tea",
    "on lithium and started ibuprofen for my back, now my hands are shaking loads",
    "on lithium and my hands have been shaking since the doctor upped my dose last week",
    "on lithium and i took a few extra tablets by mistake, now im shaky",
    "on lithium, my level came back 1.6 and my hands are shaking",
    "on lithium, had flu and barely eaten or drunk for 3 days, now trembling",
    "on lithium, got a tremor now plus loose stools",
    "lithium - my tremor is a lot stronger than it used to be and i keep dropping things",
    "on lithium, shaking and blurry vision and feel sick",
    "on lithium, new shaky hands and my muscles feel weak and heavy",
    "my dads potassium was 6.4 (haemolysed) and hes got palpitations",
    "my potassium was 6.3 and haemolysed, my legs feel heavy and weak",
    "im on dialysis and missed my session yesterday, potassium was 6.2 but the lab said haemolysed",
    "potassium 6.0 haemolysed. i havent had a wee all day and i feel awful",
    "my first sample haemolysed so they took another and the new one says potassium 6.3",
    "potassium 6.3, the lab said it wasnt haemolysed",
    "potassium 8.0 haemolysed",
    # a fresh review's: a new or stronger tremor in other words, drowsiness, doses and brands
    "on lithium and ive got a new tremor",
    "on lithium and ive started trembling",
    "on lithium, i have started getting the shakes",
    "on lithium and my tremor is a lot stronger than it used to be",
    "on lithium and i have a tremor now that wasnt there before",
    "on lithium, shaky and sleepy all day",
    "on lithium, my hands shake so much i spill my coffee",
    "my usual fine tremor on lithium is much worse since yesterday",
    "been on lithium for years and this week my tremor got way worse",
    "I take lithium 800mg and my level came back 1.6",
    "lithium 400mg twice a day, level was 1.7 yesterday",
    "im on priadel and my level came back 1.6",
    "first sample was haemolysed so they redid it and potassium came back 6.3",
    "repeat bloods show potassium 6.4, first one was haemolysed",
    # a phrase that names lithium itself ("too much lithium") meets the rule on its own
    "i took too much lithium by mistake",
    "took my lithium twice this morning by accident",
    "they upped my lithium last week and now my hands shake",
    "on priadel and i took too many, now im shaky",
]
ORDINARY = [
    "been on lithium 2 yrs and i get a hand tremor, is that normal",
    "lithium and a shaky hand, is that normal? my levels were fine last check",
    "on lithium and have a slight shake in my hands, been the same for months, is that ok",
    "is a shaky hand a side effect of lithium",
    "lithium level 0.8, fine tremor as always, is magnesium ok",
    "potassium came back 6.1 but the lab note says the sample was haemolysed?? what does that mean",
    "potassium 6.1 haemolysed, gp says repeat in a few days, feel fine",
    # loose stools are read only on lithium: from magnesium they are common, not fluid loss
    "my magnesium gives me loose stools and i still get leg cramps, should i switch form",
]


# Ordinary messages the rules alone must leave quiet (some of these words once alarmed).
RULES_QUIET = [
    "i just started lithium and have a slight tremor, is that normal",
    "on lithium with a slight tremor, is it bad",
    "on lithium, fine tremor, i have a bad back and take magnesium",
    "on lithium with a fine tremor, i feel sick of it",
    "on lithium with a mild tremor, can i take ibuprofen",
    "on lithium with a mild tremor, can i take a higher dose of magnesium",
    "i took an extra magnesium tablet by mistake, im on lithium",
    "im on lithium and my inr level came back 3.2",
    "im on lithium. my psa level was 1.9 today",
    "my calcium was normal but my albumin level was 3.1",
    "my potassium was fine. my urea level was 6.6 though",
    "i take priadel twice a day and have a fine tremor, can i take magnesium",
    "i could not feel any pain in my chest",
]


@pytest.mark.parametrize("text", RULES_QUIET)
def test_ordinary_lithium_and_lab_messages_raise_no_rule(text: str) -> None:
    assert SCANNER.scan(text) == []


@pytest.mark.parametrize("text", STILL_URGENT)
def test_lithium_and_haemolysed_results_that_still_need_advice_today(text: str) -> None:
    assert any(h.urgency.rank <= Urgency.URGENT.rank for h in SCANNER.scan(text))


@pytest.mark.parametrize("text", ORDINARY)
def test_a_usual_lithium_tremor_or_a_haemolysed_result_alone_is_not_an_alarm(text: str) -> None:
    assert SHIPPED.scan(text) == []


def test_only_a_short_spelling_after_a_number_is_left_as_written() -> None:
    # "10 kms" is ten kilometres; "woke at 3 couldnt move my left arm" is still "cant move"
    from bot.language.findings import _respell

    spellings = {("could", "not"): ("cant",), ("couldnt",): ("cant",), ("kms",): ("kill", "myself")}
    assert _respell(["i", "could", "not", "kms"], spellings) == ["i", "cant", "kill", "myself"]
    assert _respell(["10", "kms"], spellings) == ["10", "kms"]
    assert _respell(["3", "couldnt", "move"], spellings) == ["3", "cant", "move"]
    assert _respell(["3", "could", "not", "move"], spellings) == ["3", "cant", "move"]
    assert "paralysis" in _flags("woke at 3 couldnt move my left arm")


# A reviewer's own messages (not from the blind rounds): context triggers must not reach too far.
REVIEW_EMERGENCIES = [
    "My dad keeps saying his chest is crushing and he can't breathe",
    "mum insists she's fine, face drooping and slurring words",
    "my wife keeps telling me her throat is closing up",
    "my GP reckons it's anxiety, crushing chest pain and sweating",
    "During a run, crushing chest pain and can't breathe",
    "In case it matters, crushing chest pain and sweating",
    "I took aspirin to prevent a heart attack, chest crushing",
    "what do we do grandad collapsed and wont wake up",
    "Mum is showing signs of a stroke, face drooping",
    "I have all the symptoms of a heart attack, crushing chest pain",
    "I think I'm going to have a heart attack, chest is crushing",
    "My face looks like it's drooping on one side and my arm is weak",
    "I want to kill myself, not joking",
    "i want to die lol",
    "gonna kms lol",
    "my chest is crushing haha is this normal",
    "He has a history of epilepsy, fitting for 5 minutes",
    "She has a history of heart problems, crushing chest pain right now",
    "I can't breathe properly, I had pneumonia years ago",
    "My son just had his first ever seizure, he seems fine now",
    "I've never had chest pain like this before, it's crushing",
    "Never had a headache this bad, worst of my life",
    "No one is here, cant breathe",
    "my heart is going crazy and I have terrible cramps everywhere",
    "I've had a cramp in my calf. It's been going for 2 hours now.",
    "my calf cramp has lasted 1.5 hours",
    "he took fourteen of my sleeping tablets",
    "he is 2 and swallowed my iron tablets",
    "she's 2 and ate my vitamin gummies",
    "my baby isn't breathing properly",
    "my dad isn't waking up",
    "I don't think he's breathing",
    "I'm going to take all my pills tonight",
    "I woke up and can't see out of my left eye",
    "a cramp for a couple of hours now",
]
REVIEW_BENIGN = [
    "I collapsed into bed after my shift",
    "I passed out on the sofa watching tv",
    "I walked kms today",
    "I took 2 magnesium tablets at 10 last night",
    "I'm 45 and took 2 ibuprofen",
    "magnesium glycinate 400",
    "2 at 8pm and 2 at 9",
    "I've taken magnesium tablets for 3 years for cramps",
    "cramps every 20 minutes but only for a few seconds",
    "a cramp 30 minutes ago, lasted a few seconds",
]


@pytest.mark.parametrize(
    "text",
    [
        "my pulse went up 5 points",
        "pulse oximeter says 98",
        "dizzy for 1 hr 30 mins",
        "pulse ox 97",
    ],
)
def test_numbers_that_are_not_heart_rates(text: str) -> None:
    reader = Reader([], ContextRules(modifiers=STROKE.context.modifiers))
    assert all(f.concept != "pulse" for f in reader.read(text).findings)


@pytest.mark.parametrize(
    "text",
    [
        "sleeping 5 hrs, stressed",
        "slept 4 hours",
        "worked a 12 hour shift",
        "been playing elden ring for 6 hours straight and my thumb cramps",
        "been gaming for about 6 hours and my thumb cramps a bit",
        "played fifa with my mates for 5 hours and now my thumb is cramping",
        "calves cramp after 12 hours on my feet",
    ],
)
def test_an_activity_s_length_is_not_a_symptom_s(text: str) -> None:
    cramp = Concept(id="cramp", kind="symptom", phrases=("cramp", "cramps"))
    reader = Reader([cramp], ContextRules(modifiers=STROKE.context.modifiers))
    assert all(f.concept != "duration" for f in reader.read(text).findings)


@pytest.mark.parametrize(
    "text",
    [
        "cramp after running for 20 mins and still locked",  # a symptom before the activity
        "heart racing after walking up the stairs for 40 mins",
        "started shaking while sleeping for 6 minutes now",
        "my calf has been cramping for 20 minutes",
        "still cramping after 20 minutes of stretching",
        # a pastime, but the symptom told first, "still", or someone played with
        "thumb cramping, been gaming for 20 mins",
        "been training for 20 mins and still cramping",
        "been playing with him for 6 minutes and hes shaking",
    ],
)
def test_a_length_told_after_a_symptom_stays_the_symptom_s(text: str) -> None:
    symptoms = Concept(
        id="symptom", kind="symptom", phrases=("cramp", "cramping", "heart racing", "shaking")
    )
    reader = Reader([symptoms], ContextRules(modifiers=STROKE.context.modifiers))
    assert any(f.concept == "duration" for f in reader.read(text).findings)


def test_every_measure_the_reader_makes_can_be_named_in_a_rule() -> None:
    # the rule syntax lists measure names; a measure the reader makes but a rule cannot name
    # (as magnesium_level once was) would be read and never used
    from bot.content.model import parse_rule
    from bot.language import findings

    made = {
        "duration", "count", "age", "pulse", "body_temp",
        *findings._LAB_WORDS.values(), *(m for m in findings._DOSE_NAMES.values() if m),
    }  # fmt: skip
    for measure in sorted(made):
        (term,) = parse_rule(f"{measure}<1")
        assert term.measure == measure
    with pytest.raises(ValueError):
        parse_rule("ferritin_level<1")


# A second reviewer's messages against the frames of round 38 (fiction, a past visit, "yrs ago",
# an activity's length, a doubled dose, a spreading wound): each escalated before those frames,
# and each must still; the everyday ones must not alarm.
REVIEW_FRAMES_DANGEROUS = [
    "dad fell asleep watching tv cant wake up breathing weird, is that real",
    "watching the match crushing chest pain going down left arm sweating buckets, just curious is that heart",
    "husband watching the show, face drooping and slurring, is that a stroke just curious",
    "the baby was watching a cartoon, lips went blue and not breathing properly, is that a thing babies do",
    "husband fell asleep during the film, cant wake him, snoring weird, is that a thing with sleeping pills",
    "son took a handful of his nans tablets after the movie, vomiting and drowsy, out of curiosity how long do they take",
    "reading the kids a story, little one started choking on a grape cant breathe going blue, what even is the heimlich",
    "playing our dnd campaign, mate's lips and tongue swelling up after the snacks, cant breathe, is that a thing with peanuts",
    "friend passed out during the show, not breathing, does that sound right for a faint",
    "sister was watching netflix and took 30 paracetamol, just curious how long before it hurts",
    "only ever seen this in a film never in real life, flatmate shaking all over and not responding, what do we do",
    "like in the movie, boyfriend overdosed on heroin, not breathing properly, lips blue, is narcan a real thing",
    "went to hospital last night with headache, sent home, worst headache of my life and vomiting",
    "she went to the hospital after hitting her head, sent home, really confused and being sick",
    "went to the er for my asthma, sent home, cant speak in full sentences, inhaler not working",
    "my son went to a&e with his asthma last month, sent home, breathing really fast sucking in under his ribs",
    "had a fit last month, tests came back normal, he is fitting right now lips blue",
    "was admitted for sepsis last month, discharged, temp 39 shaking cant stop shivering confused",
    "gave birth last month, was fine after, bleeding heavily soaking a pad an hour",
    "started the new pill last month, was fine, crushing chest pain coughing up blood",
    "my dad got admitted last month for his heart, discharged, hes grey sweaty and clutching his chest",
    "face drooping and arm weak, had covid 2 yrs ago",
    "nose started bleeding after sneezing, still going for 30 mins",
    "my epileptic son started shaking after swimming, still going for 7 mins",
    "palpitations from the evening for 2 hours",
    "calf cramp after walking, still going for 20 mins",
    "leg cramp from this morning for 2 hours",
    "in the film last night a man collapsed, and now my dad has collapsed and wont wake up, is that realistic",
    "had chest pain months ago, turned out fine, but now crushing chest pain again",
]
REVIEW_FRAMES_EVERYDAY = [
    "took my blood pressure twice and it was 150/95, feel a bit dizzy and faint",
    "took my temp twice, 38.5, been throwing up all night",
    "i took my son to the gp twice this week, hes still vomiting",
    "doubled up on my contraceptive pill this morning and feel nauseous, been sick once",
    "doubled my dose of sertraline as the doctor told me to, heart racing a bit",
    "had a seizure that didnt last long when i was little, can i learn to drive",
    "graze on knee is red and warm, im spreading sudocrem on it, is that ok",
]

# A third reviewer's, against the frames as mended (fiction and a past visit are no longer
# read; a time in the past reaches back within its own clause only; see tests/test_vignettes.py)
REVIEW_FRAMES_DANGEROUS += [
    "bro passed out in the movie, not breathing properly, is that a real thing with panic attacks",
    "hubby face drooping one side cant lift arm, like in the film, is that realistic??",
    "like in the movie, stepdad collapsed not breathing, does cpr work like that in real life",
    "grandson choking on a sweet cant breathe going blue, saw the heimlich in a film once, is it realistic, what do i do",
    "just like in the film, teen took 40 paracetamol, is it realistic that you feel fine at first",
    "got stung, throat closing up and cant breathe, like in the movie, is that realistic",
    "lass on the show collapsed and is fitting, is that a real thing",
    "fiance is shaking all over and unresponsive, like the main character in the show, does that really happen",
    "seen for headaches months ago, all clear, worst headache of my life and being sick",
    "had a scan last month all clear, woke up last night with the worst headache of my life and stiff neck",
    "hospital checked my heart last month nothing wrong, heart going 180 and feel like passing out",
    "last month doc said nothing serious, the numbness is back and spreading up my legs",
    "months ago had a seizure turned out nothing serious, having another fit lips blue",
    "had a funny turn months ago turned out to be nothing, just collapsed and cant feel my left side",
    "got checked for a blood clot last month all clear, calf swollen and short of breath coughing up blood",
    "kid had a febrile fit months ago nothing serious, fitting for 6 mins lips going blue",
    "had a bleed after the birth last month all clear, soaking through a pad every hour dizzy",
    "my stent was fitted months ago fine since, chest pain crushing and spreading to my left arm",
    "asthma attack a month ago turned out fine, cant speak in full sentences lips blue",
    "face drooping and arm weak, stroke 2 yrs ago",
    "face drooping and slurred speech, covid 2 yrs ago",
    "face drooping, arm weak, mini stroke 1 yr ago",
    "crushing chest pain and sweating, heart attack 3 yrs ago",
    "cant breathe lips going blue, asthma diagnosed 10 yrs ago",
    "son fitting lips blue, diagnosed epilepsy 2 yrs ago",
    "worst headache ever and neck stiff, surgery 5 yrs ago",
    "suddenly cant move my legs, back op 4 yrs ago",
    "face drooping and arm weak, stroke 2 years ago",
    "nose bleeding from blowing it too hard for 25 mins",
    "cut my hand bleeding after chopping veg for 30 mins",
    "heart racing after drinking an energy drink for 45 mins",
    "my epileptic daughter has been jerking after waking for 8 minutes",
    "epileptic son shaking all over after falling asleep for 6 mins",
    "my epileptic son is shaking after eating for 10 minutes",
    "my dad got admitted last month for his heart, discharged, hes grey sweaty and clutching his chest",
]
REVIEW_FRAMES_EVERYDAY += [
    "passed out and had a fit as a teenager, can i get a driving licence",
    "my dad collapsed and had to be resuscitated 10 years ago, what are the chances it happens to me",
    "had a stroke and had to learn to talk again years ago, can i fly",
    "was paralysed and had to relearn walking as a kid, now i get back pain",
    "he had a seizure and had to go in an ambulance years ago, hes fine now",
    "accidentally took my omeprazole twice this morning, feel a bit dizzy and faint",
    "took my antihistamine twice by mistake, feeling really drowsy",
    "clutching my chest laughing at this 😂",
    "my husband was clutching his chest laughing at the telly",
    "mum clutching her chest in shock when she saw the bill haha",
    "woke up grey and sweaty after too many pints lol, hangover cure?",
    "feeling grey and sweaty after the flu jab, normal?",
    "gardening all day, sunburnt red and hot, blotchy rash spreading up my arms",
    "painting my nails red but the polish keeps spreading up the skin, how do i stop it",
]
# The price of reading a time in the past within its own clause: "had a stroke that hasnt left
# any damage, years ago" alarms (the stroke is before the comma), as "crushing chest pain and
# sweating, heart attack 3 years ago" must.

# A fourth reviewer's (at e480e2a): "N yrs ago" with no comma, "fully recovered" reaching back,
# an activity's length, gym days, spreading redness, and bare past-time clauses.
REVIEW_FRAMES_DANGEROUS += [
    "he had a seizure 3 yrs ago hes fitting again been 7 mins",
    "had anaphylaxis 3 yrs ago throat is swelling up after eating nuts",
    "had a bleed on the brain 6 yrs ago worst headache of my life came on suddenly",
    "had sepsis 2 yrs ago feel exactly the same shivering confused and mottled skin",
    "had a heart attack 5 yrs ago chest pain is back crushing and going down my arm",
    "struggling to breathe and lips bluish, wasnt fully recovered from pneumonia",
    "mum is confused and burning up, isnt fully recovered from her uti",
    "shes really confused and has a high temp, never fully recovered from covid",
    "nan is muddled and shivering, never fully recovered from her chest infection",
    "arm weak and speech slurred, had a tia in march fully recovered",
    "hes confused and burning up and mottled, had sepsis in june fully recovered",
    "my son has epilepsy, shaking after playing for 8 mins now and not stopping",
    "cramp in my calf after running for 20 mins and still locked",
    "got cramp after running for 15 mins now and it wont let go",
    "cramp after running for 20 mins rn, leg is locked solid",
    "hamstring cramp after squatting for 12 mins wont ease",
    "my heart been racing after walking up the stairs for 40 mins",
    "heart pounding after sitting down for 45 mins and not slowing",
    "woke up and can barely move my legs, last leg day was a month ago",
    "leg day was last week, now i can barely walk and legs keep giving way",
    "dog bite on my hand and the redness is spreading up my arm",
    "cut my leg on barbed wire, red streaks going up towards my knee",
    "cat scratch and theres a red line going up my arm",
]
REVIEW_FRAMES_EVERYDAY += [
    "my chest hair is going grey and i get sweaty at night, normal at 40?",
    "sweating loads in the gym on chest press, my grey top is soaked through lol",
    "took the wrong train twice by mistake this week, my memory is shocking and i get confused easily",
    "throat swelled shut after peanuts, epipen, as a kid. do i still need to carry one",
    "lips and tongue swelled up, couldnt breathe, after a wasp sting, years ago. should i get tested",
    "my face went droopy on one side, bells palsy, last year. any vitamins for nerve recovery",
    "collapsed and stopped breathing, had cpr, as a teenager. can i take energy drinks",
    "had a seizure at school, when i was a kid, never since. can i take magnesium",
]
# A fifth reviewer's (at ec6dc78): grey skin not grey hair, redness tracking up a limb not red
# streaks in a nail, a doubled supplement that only puzzles.
REVIEW_FRAMES_DANGEROUS += [
    "my dad is clutching his chest, hes gone really grey and clammy",
    "my husband is holding his chest, hes grey and clammy",
    "cut on my leg, red line going up to my knee and i feel shivery",
    "got bit by a cat, the red is tracking up my arm",
    "crushing chest pain and sweating, heart attack 3 years ago",
    "dog bite on my hand is red and hot and the redness is spreading up my arm",
    "cut my leg on barbed wire, red streaks going up towards my knee",
    "cat scratch and theres a red line going up my arm",
]
REVIEW_FRAMES_EVERYDAY += [
    "my chest hair has gone grey and i get sweaty at night, low testosterone?",
    "beard and chest hair gone grey, sweaty all the time, menopause for men?",
    "got red streaks under my nail, did i damage it",
    "nail polish left red streaks on my nail bed, is it stained?",
    "dyed my hair and got red streaks, my scalp has a small cut is that ok",
    "cut out sugar and the redness is spreading less on my face, rosacea improving?",
    "i cut my leg shaving and theres a tiny red streak, just from the razor",
    "bit my lip, sore, the redness is spreading?? its a cold sore i think",
    "by mistake i doubled up my omega 3, im confused is that bad",
]
# Denials the rules read wrongly ("never had this before chest crushing"): the triage model,
# which reads every word, still escalates them.
MODEL_COVERS_NEGATION = [
    "never had this before chest crushing and sweating loads",
    "never had chest pain before, its like a tight band and im sweating loads",
    "never had chest pain in my life but now its crushing me and my left arm aches",
    "never had a pain like it in my chest, like a weight and im sweating",
    "no pain exactly just tight chest and sweaty and sick",
    "never experienced chest tightness before and now i feel clammy and sick",
    "no pain just a heavy squeezing in my chest and sweating, 55 male",
]


# The eighteenth session's review of its own change: each was hidden by a first draft of it
# (a hypothetical "will ... give me", a plot's "scene where", a length "after ... at", an age
# "just over 2 months") or missed before it (household poisons, a hedged age, a nosebleed).
REVIEW_S18_DANGEROUS = [
    "how long will 999 make me wait husband collapsed not breathing",
    "will the ambulance make me wait long wife not breathing properly lips blue",
    "will the paramedics make me go to hospital chest pain crushing sweating going into jaw",
    "hope the pills will make me sleep forever took the whole box an hour ago",
    "will 40 paracetamol give me liver damage took them an hour ago",
    "at the scene where a lorry hit a pedestrian lady not breathing no pulse starting cpr",
    "halfway through a film where nothing happens and grandad collapsed not breathing",
    "signed in the book at reception baby floppy grunting blue lips still not seen",
    "hes epileptic still shaking after 7 mins on his side",
    "he has epilepsy, been sitting with him for 7 minutes and hes still shaking",
    "been sitting here pressing on it for 25 minutes and its still bleeding",
    "my son is just over 2 months and has a temp of 38.3",
    "our daughter is less than 2 months and her temperature is 38.2",
    "my son is a little over 2 months has a temperature of 38.5 and is floppy",
    "toddler swallowed a button battery 20 mins ago",
    "my 3 year old got into the cupboard and drank some bleach",
    "nosebleed still pouring after 25 mins on pressure",
    # the second review: a length after an activity, with the symptom told before it
    "nose bleeding, been sitting pinching it for 25 mins",
    "been driving for 30 mins with a nosebleed that wont stop",
    "my son is a little under 3 months, hot to touch and 38.5",
    "my 3 year old swallowed a battery from the tv remote",
    "my son bit into a laundry pod, foam coming out his mouth",
    # the third review: sitting or standing beside someone is no pastime; a plot's scope ends
    # at a person; "some of the" before a poison
    "my sons epileptic, been sitting beside him for 6 minutes and his arm keeps jerking",
    "halfway through a film where grandpa face drooped one side words all slurred arm wont lift",
    "little one drank some of the weedkiller in the shed",
    # the code review: a length told first, a child's age in months, standing beside a bleed
    "25m now and the cut on his arm is still bleeding",
    "my son (18m) accidentally swallowed some of my pills",
    "been standing 20 mins pressing on the cut on his leg and its still bleeding",
    "my brother is 3 years older than me and accidentally took some of my pills, hes 6",
    "my heart has gone all fluttery and my hands and feet are cramping up, ive been vomiting all day",
]
# urgent, not an emergency, and still raised: blood in the urine, itching in pregnancy
REVIEW_S18_URGENT = [
    "been urinating blood since yesterday, no pain",
    "my bump is 30 weeks and my feet and hands itch constantly",
    "33 weeks with twins and the bottoms of my feet itch so bad i cant sleep",
    "my heart's been skippy all day and im on bendroflumethiazide",
    "my heart is going crazy, been sitting down for 35 mins and no change",
    "my heart has been racing after 10 hours on my feet at work and wont slow down",
    "sat down for 40 mins to rest but my heart is racing the whole time",
]
REVIEW_S18_EVERYDAY = [
    "cut my foot on some glass at the beach, healing fine, is zinc good for skin",
    "been gaming for 6 hours and my thumb cramps a bit",
    "after 12 hours on my feet my calves cramp at night",
    # a Scottish "wee", a swear word, a romance, a goodbye before a flight, a rash
    "my wee one has red cheeks from teething",
    "fancy a wee red wine tonight",
    "my wee one is being a bloody nightmare",
    "his smile makes my heart go all fluttery, i literally feel faint lol",
    "my daughter texted me goodbye before boarding, not picking up now",
    "32 weeks pregnant with an eczema flare, itchy palms and a rash",
    "ate borscht last night and my pee is pink",
    "i took a battery out of the smoke alarm because it kept beeping",
    "our dog chewed a dishwasher tablet, is that a vet job",
    "my pee is red bull yellow after these b vitamins lol",
    "i'm pregnant and itchy palms from using hand sanitiser all day",
    "eating crisps and changing the batteries in the remote",
    "he ate dinner then played with magnets on the fridge",
    "drank my coffee while bleaching the bath",
    "my boyfriend is nearly 3 months older than me and has a fever of 38.6",
    "im expecting a parcel today and my palms are so itchy lol",
    # "nan" is no "nans" (as in "got into nans tablets"): AAF's one needless alarm
    "my 8yo gets leg pains at night, nan says its low calcium, could it be?",
    "passed out laughing at that video, anyway whats good for leg cramps",
    "we saw a movie yesterday where a man has a seizure, is that what epilepsy looks like",
    "my dog bit his chew toy in half lol",
    "im slightly deaf in one ear since birth, does b12 help hearing",
    # the fourth review: radiators and brakes, a bitten football, a hearing aid, sore eyes
    "bleeding the radiators and water spurting out all over the carpet",
    "the dog bit the football and punctured it",
    "lost my hearing aid suddenly on the bus, gutted",
    "eyes red and puffy from hayfever and its roasting today",
    "my jaw pops when im chewing gum and ive got a headache",
    "got the blood pumping with a 5k this morning, then grazed my knee on the kerb lol",
    "my son coloured past the pen line in red crayon lol",
    # the nineteenth session: words of a plan that are as often everyday ("lined up", "the
    # rope", "how many .. it would take") need a second sign; pets, fiction, a shift's length
    "planning to take magnesium tonight, how many would it take to help cramps",
    "ive given away my old supplements, no point anymore",
    # Known alarms, as at the start: "lined up", a rope, "how many ... it would take", "going
    # to do it", "how many .. to end", "going to the bridge", "stockpiling" and written letters
    # raise a crisis alone again, since three reviews found that people in crisis give the
    # second sign in too many words to list; a plot goes only to the next "and" or comma; a
    # cramp that went after stretching is read as told; "trying to get pregnant" or an earlier
    # pregnancy does not rule out a pregnancy that is bleeding
    "did a 12 hr shift and my calves are cramping, what should i eat",
    "my ear went muffled after the flight yesterday and keeps popping",
    "pregnant and my gums bleed when i brush, is that a vitamin thing",
    "ive been deaf in my left ear since i was a kid, suddenly wondering if i should get it checked",
    # the second review: dozing, a high board, a figure of speech, a boat, a dose, a cough
    "i keep nodding off on the sofa and my leg twitches as i fall asleep",
    "going to jump off the high board at the pool tonight",
    "how much caffeine would kill me lol",
    "how many tablets would it take to get rid of this cramp tonight",
    "my ventolin inhaler didnt help my cough so i stopped using it",
    "my husband is a cyclist, his resting pulse is 40 and hes always drowsy after long rides",
    "im pregnant and i stubbed my toe, its bleeding",
    # the review: a resting pulse, a negative test, a past pregnancy, bleeding from elsewhere
    "cyclist here, pulse 43 at rest, feel really sleepy on rest days, magnesium?",
    "expecting my period tomorrow and ive had brown discharge and cramps",
    "22 weeks pregnant and i bled a bit when i flossed",
]

#: What the nineteenth session's review found the first draft hid: a pet or fiction named
#: beside someone real in trouble, and "fine after" told of events that still need care
REVIEW_S19_DANGEROUS = [
    "stung by a wasp walking the dog lips swelling up cant breathe",
    "took the dog out crushing chest pain down left arm",
    "feeding the cat sudden worst headache ever like being hit with a bat",
    "been writing a book all night, out of nowhere face dropped on one side and speech slurred",
    "my son is such a character, fell off the trampoline, not responding, blood from his ear",
    "took 30 paracetamol last night, was fine after",
    "sudden weakness in my left arm and face, fine after 20 mins, should i see someone",
    "my son had his first ever seizure, went away after about 5 mins",
    "sudden worst headache of my life, eased off after an hour",
    "hit my head on a cupboard, blacked out for a minute, fine after",
    "scratched by my cat 10 days ago jaw locked",
    # the second review: a lifelong condition, a pet's fit, a game, a rope, a drive to A&E
    "cant breathe and lips going blue and had asthma since i was little",
    "my dog had a seizure this morning and now my daughter is having a seizure",
    "was gaming for hours, my character kept dying and crushing chest pain spreading to my jaw",
    "i give up. ive got a rope",
    "ive got the rope, i just want the pain to end",
    "nose bleeding for 30 minutes drive to a and e",
    "how many pills to end it",
    "no one loves me. pills are lined up",
]


@pytest.mark.parametrize("text", REVIEW_S18_URGENT)
def test_the_eighteenth_sessions_reviewed_urgent_messages_are_urgent(text: str) -> None:
    assert [h.urgency.value for h in SCANNER.scan(text)][:1] == ["urgent"]


@pytest.mark.parametrize("text", REVIEW_S18_DANGEROUS)
def test_the_eighteenth_sessions_reviewed_dangerous_messages_escalate(text: str) -> None:
    assert SCANNER.scan(text)


@pytest.mark.parametrize("text", REVIEW_S18_EVERYDAY)
def test_the_eighteenth_sessions_reviewed_everyday_messages_do_not(text: str) -> None:
    assert SCANNER.scan(text) == []


@pytest.mark.parametrize(
    "text", [*REVIEW_EMERGENCIES, *REVIEW_FRAMES_DANGEROUS, *REVIEW_S19_DANGEROUS]
)
def test_reviewed_dangerous_messages_escalate(text: str) -> None:
    assert SCANNER.scan(text)


@pytest.mark.parametrize("text", [*REVIEW_BENIGN, *REVIEW_FRAMES_EVERYDAY])
def test_reviewed_everyday_messages_do_not(text: str) -> None:
    assert SCANNER.scan(text) == []


def test_the_shipped_model_reads_a_denial_as_a_denial() -> None:
    assert SHIPPED.scan("I don't have chest pain or shortness of breath, only cramps") == []
    assert SHIPPED.scan("crushing chest pain and short of breath, only cramps before")


@pytest.mark.parametrize("text", MODEL_COVERS_NEGATION)
def test_the_model_escalates_what_the_rules_wrongly_read_as_denied(text: str) -> None:
    assert SHIPPED.scan(text)


@pytest.mark.parametrize(
    ("text", "raised"),
    [
        ("my arm and leg went weak, as a kid", False),  # a past time alone in its clause
        ("my arm and leg went weak, as a kid.", False),
        ("my arm and leg went weak, a bad fall as a kid", True),  # it has words of its own
        ("my arm and leg went weak, as a kid i fell", True),
    ],
)
def test_a_past_time_alone_in_its_clause_reads_back_over_the_comma(text: str, raised: bool) -> None:
    assert bool(RedFlagScanner(STROKE).scan(text)) is raised


# A symptom told in words that name its place ("a weight on my chest", "her smile is wonky") is
# one of its flag's phrases: a rule's terms need different words, so "chest + pain" cannot be
# met by the one phrase. Only phrases that always mean the danger are listed this way.
PLACE_INSIDE = [
    ("feels like a weight on my chest and im sweating", "chest_breathing"),
    ("theres a weight on my chest that wont shift", "chest_breathing"),
    ("his face looks wonky", "stroke"),
    ("her smile is wonky", "stroke"),
]


@pytest.mark.parametrize(("text", "flag_id"), PLACE_INSIDE)
def test_a_symptom_told_with_its_place_raises_its_flag(text: str, flag_id: str) -> None:
    assert flag_id in _flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "my heartbeat is all over the place and im twitching",  # how it beats, not where
        "I slept funny and my neck is pulled to one side",
        "my baby has a wonky smile in photos",
        "after leg day my legs are huge and sore",
        "fallen three times this week, my legs just give way",
    ],
)
def test_a_place_inside_another_phrase_raises_no_emergency(text: str) -> None:
    assert not any(h.urgency is Urgency.EMERGENCY for h in SCANNER.scan(text))


def test_a_place_said_to_feel_some_way_now_lets_the_model_read_it() -> None:
    # "fizzy" is no symptom the reader knows; a body part said to feel some way now is told,
    # so the triage model may read it (not a question, not the past)
    told = "had my thyroid out on monday and now my lips feel all fizzy"
    assert [h.flag.id for h in SHIPPED.scan(told)] == ["described_urgent"]
    assert SHIPPED.scan("had my thyroid out on monday, do lips ever feel fizzy after?") == []
    assert SHIPPED.scan("my legs feel fine now, is magnesium worth keeping up") == []
    # the feeling is read for negation and time like any finding; an ordinary one is no complaint
    assert SHIPPED.scan("my legs dont feel weak anymore after the magnesium") == []
    assert SHIPPED.scan("my legs used to feel like lead on furosemide") == []
    told = "my legs felt like lead on water tablets after vomiting but they feel ok now"
    assert SHIPPED.scan(told) == []
    # a feeling in unknown words lets only the urgent head speak, never the emergency head
    assert all(h.urgency is not Urgency.EMERGENCY for h in SHIPPED.scan(
        "my throat feels weird after the spicy crisps"))  # fmt: skip


def test_a_shake_after_using_a_reliever_a_lot_lately_is_not_an_alarm() -> None:
    # salbutamol's tremor is common; the reference's same-day signs are a racing heart or cramps,
    # or a reliever needed every few hours (asthma getting worse)
    assert SHIPPED.scan("been using my ventolin loads lately and my hands are a bit shaky") == []
    assert _flags("using my inhaler every hour and im shaking and twitching") == {"inhaler"}
    assert _flags("been using my ventolin loads and now my heart is racing") == {"inhaler"}
