"""Regression guard: every vignette used to tune the red-flag rules still triages as labelled.

The rules alone, without the triage model: the model is trained on these same vignettes, so
through it they would pass by memory and hide a rule that broke. (The held-out measurement
lives in benchmarks/safety.py and is never a test: it must not be tuned on.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content.loader import bundled_content_dir, load_content
from bot.events import Urgency
from bot.language.embedding import load_embedder
from bot.language.safety import RedFlagScanner

DATA = Path(__file__).parent / "data"
SCANNER = RedFlagScanner(load_content(bundled_content_dir()).safety, load_embedder())  # no model
CASES = [
    (group, text)
    for path in sorted(DATA.glob("vignettes*.yaml"))
    if "heldout" not in path.name
    for group, texts in yaml.safe_load(path.read_text(encoding="utf-8")).items()
    for text in texts
]
ALLOWED = {
    "emergency": {Urgency.EMERGENCY},
    "emergency_or_urgent": {Urgency.EMERGENCY, Urgency.URGENT},
    "benign": {None},
}


#: Why most plots are not read as told: reviews found that triggers such as "in the show",
#: "my campaign", "murder mystery" or "a villain", even only with a question about realism and
#: nobody real named, also hid real emergencies ("was performing in the show sudden crushing
#: chest pain"; "got stung, throat closing up and cant breathe, like in the movie, is that
#: realistic"). Only "a book, film, novel, series or episode where" and "in the novel" are
#: (content's reported context), up to the next clause or person ("in the novel im reading a
#: character..." ends at "im"); "a story where" is also an Instagram story. Fiction being
#: written ("writing a story where") reads on over "and", up to a comma or someone real; not
#: "my character", which a gamer or an actor says of real events too.
_PLOTS = (
    "a plot not told as 'a book/film/novel/series/episode where' (to the next clause or "
    "person) is not read as such: the words that open one also open real events ('performing "
    "in the show', 'like in the movie')"
)

_DARK_URINE = (
    "dark urine with severe muscle pain after exercise is urgent (same day) in the reference the "
    "rules follow, not an emergency"
)
_SLOW_NERVES = (
    "slowly developing numbness, tingling or unsteadiness (B12 or B6) is a routine appointment in "
    "the reference the rules follow, not a same-day one"
)

#: A show named only by its title: "watching" is no frame of its own (a review found "dad fell
#: asleep watching tv, can't wake him, is that real"), and a title is not a word of the content.
_TITLE = "a show named only by its title: 'watching' also frames real emergencies"

#: Why a past visit that found nothing is not read as the past: a review found a frame of "last
#: month" with "turned out", "all clear" or "tests came back normal" reaching over the complaint
#: told next ("seen for headaches months ago, all clear, worst headache of my life").
_LAST_MONTH = "a visit 'last month' that found nothing is not read as the past: " + (
    "the words that say so also come before a new emergency in the same message"
)

#: Why a length after an activity is read as the symptom's: reviews found "from writing for 3
#: hours" read as the writing's length also hid "cramp after running for 20 mins and still
#: locked" and "nose bleeding from blowing it too hard for 25 mins".
_ACTIVITY = "the length after 'from'/'after' an activity is read as the symptom's: " + (
    "'cramp after running for 20 mins and still locked' is the cramp's"
)

#: Known misses, each with why it is left: a test that lists them keeps them visible.
_URGENT_HEAD = "no rule names it; the triage model's urgent head raises it (described_urgent)"
KNOWN = {
    "got a cramp in my hand after writing my essay for 3 hours lol, gone now": _ACTIVITY,
    "hand cramp from writing for 3 hours in my exam": _ACTIVITY,
    "legs were jelly after leg day, can barely walk down stairs haha": "'leg day' is not read as "
    "a workout context ('leg day was last week, now i can barely walk and legs keep giving way')",
    "wrote a story where the hero has a seizure, does this description sound realistic or is it "
    "cringe": _PLOTS,
    "in the novel im reading a character gets lockjaw after stepping on a nail, is tetanus still "
    "even a thing nowadays?": _PLOTS,
    "writing a novel, my character has a seizure in a cafe. what would bystanders realistically "
    "do": _PLOTS,
    "my character in the game literally died of like 50 seizures lmaooo anyway real q does "
    "potassium help cramps": "'in the game' and 'my character' also open real events at a "
    "match or on a stage",
    "went to a&e last month with chest pain, turned out to be a pulled muscle, all fine. what "
    "stretches help": _LAST_MONTH,
    "in the show im watching a guy has a seizure after drinking loads of water during a marathon. "
    "is that even a real thing?": _PLOTS,
    "for my d&d campaign i want a villain curse that paralyses you from the feet upward, is there "
    "a real condition like that for realism": _PLOTS,
    "watching greys anatomy and someone had a thunderclap headache, what even is that": _TITLE,
    "last year i went to A&E with chest pain and it turned out to be a panic attack. im fine "
    "now, just get eyelid twitches. ok to take magnesium glycinate?": "'turned out to be' also "
    "follows real emergencies ('crushing chest pain, last time it turned out to be nothing'), "
    "and 'last year' is too far from the chest pain",
    "watching greys anatomy and a guy had crushing chest pain and it was a heart attack, is it "
    "always like that in real life": _TITLE,
    "was watching greys anatomy and someone had a seizure from drinking too much water, is that "
    "actually a real thing": _TITLE,
    "dad fainted at a wedding last month from the heat, got checked at a&e and all clear. what "
    "should he drink on hot days so he doesnt cramp": "'all clear' also ends messages about a "
    "current emergency ('waiting on the all clear from 111', 'had a ct last week, all clear'); "
    "'last month' is not read as the past ('since last month' must stay current)",
    "watching greys anatomy and someone got lockjaw from tetanus, is that a real thing": _TITLE,
    "on the show House a guy collapsed from hypokalemia. how low does potassium have to get for "
    "that": _PLOTS,
    "if my heart races when I have a cramp is that something to worry about? asking because "
    "I read it somewhere, mine doesn't": "the 'mine doesn't' that makes it hypothetical is in "
    "the next sentence; 'if my ...' cannot be read as hypothetical without missing real cases "
    "('not sure if my face is drooping')",
    "on greys anatomy last night someone had a seizure from low sodium, is that actually a "
    "thing?": "a show named only by its title; and 'is that a thing' cannot reach back past a "
    "comma without missing 'my face dropped, is that a thing with low potassium?'",
    "my flatmate keeps saying her throat is closing up about presenting her dissertation lol, "
    "she just means she's nervous": "what someone near you keeps saying is an emergency when "
    "it is literal ('my dad keeps saying his chest is crushing'); the explanation comes after",
    "numb bum after a 4 hour gaming session lol, went back to normal as soon as i got up and "
    "walked": "numbness that has passed is not ignored in general (stroke signs that pass "
    "still need help)",
    "left arm and hand have been numb since this morning, like 5 hours now, hasnt gone away. "
    "everything else feels ok i think": "numbness of one limb for hours is not read as urgent: "
    "a rule for it would also alarm on months of numb feet from low B12",
    "when should you call 999 for a seizure? asking for a first aid course at work": "a "
    "question form such as 'when should you call' also opens real emergencies ('when to call "
    "999 for a seizure that's lasted 6 minutes'), so it is not read as hypothetical",
    "fever of 39.8 and my muscles are super stiff and aching all over, been like this since this "
    "afternoon": "fever with stiff muscles alone is not escalated: the rule also fired on 'fever "
    "and stiff from the gym' and on 'my temp job', and the stiffness words are too common",
    "how do you help someone having a seizure? new flatmate has epilepsy and told me to look it "
    "up": "'how do you help someone having a seizure' also opens a seizure happening now",
    "watching greys anatomy and a guy got tingling then had a stroke, kinda paranoid now but my "
    "arms are fine, just curious what the early signs are": "a show named only by its title",
    "exam week, my heart beats fast when i walk into the exam hall then settles, twitchy eyelid, "
    "sleeping bad. normal?": "a racing heart asks for advice today; a cause in the same breath "
    "is not read",
    "this cramp in my foot made me want to die for a sec lol 😅 gone now": "'want to die' is "
    "never read as a figure of speech, even with 'lol': some people mean it",
    "how do you help someone who's having a seizure? doing first aid training at work tomorrow "
    "and wanna be ready": "'how do you help someone having a seizure' also opens a seizure "
    "happening now",
    "my heart is literally racing rn bc my exam results come out tomorrow 😭 also the twitch in my "
    "eye is back": "a racing heart asks for advice today; a cause in the same breath is not read",
    "someone at work collapsed last month and i did cpr till the ambulance came, hes fine now. how "
    "often should i refresh my first aid course": "'last month' is not read as history: 'chest "
    "pain last month and it's back' must still escalate",
    "in the murder mystery im reading the victim got too much potassium. can you actually "
    "overdose on bananas lol": _PLOTS,
    "my brother keeps saying my twitching thumb means im about to have a stroke. its been 4 "
    "days, no other problems at all. is he right": "what someone else says stops at 'my', so "
    "that 'he keeps saying my face feels numb' stays current",
    "been standing on the bridge near my flat for a while now, its cold and my legs keep "
    "twitching, why do they twitch like that": "a bridge alone is not a red flag ('standing on "
    "the bridge taking photos'); it needs words of hopelessness",
    "calf cramp started at 2am and its now past 5, still rock hard, stretching and walking it off "
    "does nothing": "a length told as two clock times is not read",
    "doing a first aid course next week, how are you supposed to help someone having a seizure": ""
    "'how to help someone having a seizure' also opens a seizure happening now",
    "had a seizure at 8 from a high fever, nothing since, im 30 now. is it fine for me to take "
    "magnesium": "'at 8' is not read as an age, and 'nothing since' would also hide a first "
    "seizure yesterday",
    "how do you help someone having a seizure? did a first aid course at work but forgot "
    "everything, one guy on our team has epilepsy": "'how do you help someone having a seizure' "
    "also opens a seizure happening now",
    "watching greys anatomy and a patients hands went into claws after neck surgery, why does "
    "that happen? is it a calcium thing?": "a show named only by its title",
    "was watching greys anatomy and someone had a stroke, what are the signs so i know for the "
    "future?": "a show named only by its title",
    "my doctor mentioned thunderclap headache when i asked about my migraines, what actually is "
    "that? my migraines are the same as always": "'mentioned' also opens real reports ('mum "
    "mentioned her chest pain'); the question comes after the words it asks about",
    "did a 100 burpee challenge then a hot spin class yesterday, today my thighs are agony and "
    "swollen and my pee is literally the colour of coke": _DARK_URINE,
    "did a massive spin class then crossfit yesterday, my thighs are agony and swollen and my pee "
    "is literally the colour of coke": _DARK_URINE,
    "my brother was stuck under a car that slipped off the jack for a few hours, hes out now but "
    "his leg is huge and killing him and his wee is dark brown": "being trapped for hours (a "
    "crush injury) is not read; the dark urine and pain are raised as urgent",
    "my 4 yr old has been hot all evening and now shes gone stiff and her arms are shaking and she "
    "wont look at me. never happened before 😭😭": "'been hot' is also the weather ('it's been "
    "hot all week'): a temperature told only as 'hot all evening' is left to the triage model",
    "dont worry about my leg cramps anymore i wont need to. ive decided. got everything sorted in "
    "the garage. just wanted to say thanks for the tips before": "a veiled goodbye: 'I won't need "
    "to', 'I've decided' and a thanks each come in ordinary messages ('thanks, I won't need the "
    "magnesium anymore, I've decided to eat nuts'); left to the triage model",
    "vegan 4 yrs no supplements. pins and needles in both feet, stumbling a lot and forgetting "
    "stuff. which b12 should i buy": _SLOW_NERVES,
    # rounds 26 and 27 (read after their held-out runs): what the rules still leave
    "my 2 year old has very bowed legs, has stopped wanting to walk, and yesterday his hands went "
    "into a weird twitchy spasm for a minute. we've never given him vitamin D": "a child's hand "
    "spasm is not a rule yet: 'spasm' alone is an ordinary cramp; left undone",
    "vision in my right eye went blurry over 2 days and it hurts to move the eye, plus I get an "
    "electric tingle down my back when I bend my neck": _URGENT_HEAD,
    # round 34 (read after its first run)
    "had a panic attack at work, but tbh my heart is still going at 150 an hour later sat down, "
    "no chest pain, just a pounding. normally 70": "'my heart is still going at 150' is not read "
    "as a pulse (the heart word is too far from the number); left undone",
    "9 month old with fever 39 for 3 days now, eating less and a bit grumpy, still drinking and "
    "having wet nappies": "the reference's line for a child's fever is five days; left to the "
    "triage model",
    "we just bought gummy vitamins, if my kid ever swallowed a bunch what should i do? asking "
    "ahead, nothing happened": "'if ... ever' also opens real swallowing ('cant tell if he "
    "ever swallowed any of the paracetamol'), and 'nothing happened' is in the next sentence",
    "if i ever had an allergic reaction with throat swelling what should i do? i have an epipen "
    "and never had to use it": "'if ... ever' also opens real swallowing of pills ('cant tell if "
    "he ever swallowed any')",
    "if i ever had a seizure what should my roommate do? just want us both to know": "'if ... "
    "ever' also opens real swallowing of pills ('cant tell if he ever swallowed any')",
    # round 36 (read after its first run)
    "if my face ever went droopy what should i do? just curious after seeing that FAST advert on "
    "telly": "'if ... ever' also opens real swallowing of pills ('cant tell if he ever swallowed "
    "any', 'no clue if he ever swallowed any') and 'ever since' after a polite 'if you can'",
    "stopped my epilepsy meds myself 2 days ago cos of side effects, now my arm keeps jerking on "
    "its own": "no rule names stopping an epilepsy medicine (the reference has no line for it); "
    "the triage model's urgent head raises it (described_urgent)",
    "my arm twitches have turned into actual weakness over the past few days, cant lift the kettle "
    "with that hand now": "weakness growing over days with twitching is a routine appointment in "
    "the reference (possible motor neurone disease); the triage model's urgent head raises it",
    # round 32 (read after its first run)
    "my 5 year old has had a fever for 4 days now, 38.8 today, calpol brings it down but he's just "
    "not right, keeps saying his legs hurt": "the reference's line for a child's fever is five "
    "days; four days and 'not right' is left to the triage model",
    "lol that cramp made me want to die, it's gone now though. how do I stop it happening in the "
    "pool?": "'want to die' said of a pain is not safely told apart from meaning it; left alarmed",
    "when do I need a tetanus booster? cut my finger on a clean kitchen knife, not deep, had all "
    "my jabs as a kid": "jabs told as the past ('as a kid') are read as historical, so they "
    "cannot cancel the rule; a booster question with a cut stays urgent",
    "had food poisoning last month with cramps, all better now. should I keep rehydration sachets "
    "in for next time?": "'last month' is not read as the past: 'since last month' must stay "
    "current",
}


@pytest.mark.parametrize(
    ("group", "text"),
    [
        pytest.param(g, t, marks=pytest.mark.xfail(reason=KNOWN[t], strict=True))
        if t in KNOWN
        else (g, t)
        for g, t in CASES
    ],
)
def test_vignette(group: str, text: str) -> None:
    hits = SCANNER.scan(text)
    assert (hits[0].urgency if hits else None) in ALLOWED[group]
