"""Generate the embedded SQuAD 2.0-format sample (fictional entities, template text, fixed seed).

    python data/make_sample.py [--out-dir DIR]

rewrites ``DIR/train-v2.0.json`` and ``DIR/dev-v2.0.json`` (default: ``data/sample``) byte-identically.
Every paragraph describes one invented entity (a town, inventor, ship, company, festival or river) through
typed "slots" (a year, a person, a place, a quantity...): a few facts, each answer type at most once, among
descriptive filler sentences, so that a tiny ALBERT trained from random init learns within a hundred steps
which spans are answers. Answerable questions ask for a stated slot, each type with its own opening words
("When"/"In what year", "Who", "Where", "How many"...); unanswerable ones ask for another relation of a
stated type (when the railway *came* to a town whose paragraph only says when it was *founded*) and carry
that stated span as their plausible answer. Standard library only.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 20240607
DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "sample"
SPLITS = {"train": 150, "dev": 45}  # paragraphs per split
LONG_SHARE = 0.15  # share of long paragraphs (more facts and a descriptive section: 2+ windows of 128)
SHORT_STATED, SHORT_FILLERS = (2, 2), (2, 3)  # typed facts and filler sentences of a normal paragraph
LONG_STATED, LONG_FILLERS = (4, 4), (7, 9)  # a long paragraph adds a descriptive section
DEV_MULTI_GOLD_SHARE = 0.35

PLACE_PREFIXES = ("Vel Quor Zan Ostr Brael Kerv Thal Mirr Jask Dwen Yorv Ull Fenn Grisk Hesk Lunt Pask "
                  "Rhon Siv Tovr Arn Eskr Frayl Gorm").split()
SURNAME_PREFIXES = "Bexl Cald Drum Hald Ivl Kest Lorv Marn Nesk Orv Pell Rask Strev Tarn Ulv Varr Wend Yss".split()
FIRST_NAMES = ("Orla Tamsin Bertil Ingra Castor Mirelle Anselm Edda Jorund Liesel Matthis Neve Oskar Perrin "
               "Runa Sefton Talia Ulric Vanna Wilmot Ysolde Aurel Brisa Cormac Dagny Emric Fiora Gideon "
               "Halvard Isolde Kasimir Linnea Marek Nerys Odile Piet").split()
SUFFIXES = {
    "town": "holt mouth bridge wick stow ham field bury port haven ford mere dale thorpe combe".split(),
    "surname": "by croft hart ley more ton well wyn stead ridge lowe".split(),
    "river": "en el ith ara ow isk une".split(),
    "mountain": "ak or ion ett".split(),
}
SHIP_WORDS = ("Silver Crimson Steadfast Northern Patient Amber Gallant Quiet Restless Morning Iron Willow".split(),
              "Heron Lantern Maiden Otter Promise Star Gull Thistle Harvest Courier Wren Pilgrim".split())
FESTIVAL_WORDS = "Kite Lantern Harvest Bell Salt Ribbon Cider Kettle Mask Candle Boat Wool".split()
MONTHS = "January February March April May June July August September October November December".split()
YEARS = (1620, 1990)


@dataclass(frozen=True)
class Slot:
    """A typed attribute: how its value is drawn, stated in a sentence, and asked about."""

    type: str  # year, person, place, number, thing, month or org: a paragraph states each type at most once
    source: str  # 'year', 'month', 'number:LOW:HIGH:UNIT', 'list:A|B|C' or a NameMaker kind
    sentences: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    """A kind of entity a paragraph can describe, with its slots and its descriptive filler sentences."""

    name_source: str
    article: str
    slots: dict[str, Slot]
    fillers: tuple[str, ...]


def slot(type_: str, source: str, sentences: str, questions: str) -> Slot:
    """Build a Slot from '|'-separated sentence and question templates."""
    return Slot(type_, source, tuple(sentences.split("|")), tuple(questions.split("|")))


def fillers(text: str) -> tuple[str, ...]:
    """'|'-separated sentences that state no slot (no year, name, place, number or month)."""
    return tuple(text.split("|"))


KINDS: dict[str, Kind] = {
    "town": Kind("town", "", {
        "founded": slot("year", "year", "{E} was founded in {v}.|The town of {e} was founded in {v}.",
                        "When was {e} founded?|In what year was {e} founded?"),
        "railway": slot("year", "year", "The railway reached {e} in {v}.|Trains first came to {e} in {v}.",
                        "When did the railway reach {e}?|In what year did trains first come to {e}?"),
        "founder": slot("person", "person",
                        "The first settlers of {e} were led by {v}.|{E} was founded by the farmer {v}.",
                        "Who founded {e}?|Who led the first settlers of {e}?"),
        "mayor": slot("person", "person", "The mayor of {e} is {v}.|{E} is governed by the mayor {v}.",
                      "Who is the mayor of {e}?|Who governs {e}?|Who is mayor of {e} today?"),
        "river": slot("place", "river", "{E} lies on the banks of the {v}.|{E} stands on the {v}.",
                      "Where does {e} lie?|Where is {e}?"),
        "mountain": slot("place", "mountain", "{E} is overlooked by {v}.|High above {e} rises {v}.",
                         "Where does {e} stand?|Where is {e} found?"),
        "population": slot("number", "number:1200:95000:people",
                           "{E} has a population of {v}.|Today {e} is home to {v}.",
                           "How many people live in {e}?|How many people does {e} have?"),
        "bridges": slot("number", "number:3:40:bridges", "The canals of {e} are crossed by {v}.|{E} has {v}.",
                        "How many bridges does {e} have?|How many bridges cross the canals of {e}?"),
        "product": slot("thing", "list:blue cheese|copper kettles|woollen blankets|glass beads|honey cakes|"
                                 "clay pipes|salted herring|walnut furniture|lace collars|rope ladders",
                        "{E} is best known for its {v}.|Visitors come to {e} to buy its {v}.",
                        "What is {e} known for?|What do visitors buy in {e}?"),
        "fair": slot("month", "month", "{E} holds a horse fair every {v}.|The horse fair of {e} is held in {v}.",
                     "In which month is the horse fair of {e} held?|In which month does {e} hold its horse fair?"),
        "market": slot("month", "month", "The cheese market of {e} opens in {v}.|{E} opens its cheese market in {v}.",
                       "In which month does the cheese market of {e} open?|In which month does {e} open its cheese market?"),
    }, fillers("{E} has a small harbour used mostly by fishing boats.|The old market square of {e} is paved "
               "with grey stone.|Several local historians have written books about {e}.|Winters in {e} are long "
               "and windy.|A narrow road connects {e} with the coast.|The town hall of {e} was rebuilt after a "
               "fire.|Most houses in {e} have red roofs.|The streets of {e} are quiet at night.|Fishing remains "
               "important to the people of {e}.|The school of {e} stands next to the church.")),
    "inventor": Kind("person", "", {
        "born": slot("year", "year", "{E} was born in {v}.|{E} came into the world in {v}.",
                     "When was {e} born?|In what year was {e} born?"),
        "died": slot("year", "year", "{E} died in {v}.|{E} passed away in {v}.",
                     "When did {e} die?|In what year did {e} die?"),
        "hometown": slot("place", "town", "{E} grew up in {v}.|As a child, {e} lived in {v}.",
                         "Where did {e} grow up?|Where did {e} live as a child?"),
        "workshop": slot("place", "town", "{E} later opened a workshop in {v}.|The workshop of {e} stood in {v}.",
                         "Where was the workshop of {e}?|Where did {e} open a workshop?"),
        "invention": slot("thing", "list:folding loom|steam plough|tide clock|glass compass|spring lantern|"
                                   "brass calculator|paper press|wind pump|rope bridge|copper telescope",
                          "{E} invented the {v}.|{E} is credited with inventing the {v}.",
                          "What did {e} invent?|What is {e} credited with inventing?"),
        "award": slot("thing", "list:Gold Anvil Medal|Silver Compass Prize|Order of the Lamp|Royal Gear Award|"
                               "Lantern Cross",
                      "{E} received the {v}.|In later life {e} was awarded the {v}.",
                      "What award did {e} receive?|What prize was {e} awarded?"),
        "company": slot("org", "company", "{E} founded a firm called {v}.|With two partners, {e} started {v}.",
                        "Which company did {e} found?|Which firm did {e} start?"),
        "employer": slot("org", "company", "For many years {e} worked for {v}.|{E} was employed by {v}.",
                         "Which company employed {e}?|Which firm did {e} work for?"),
        "patents": slot("number", "number:3:140:patents", "{E} was granted {v}.|During a long career, {e} filed {v}.",
                        "How many patents did {e} file?|How many patents was {e} granted?"),
        "apprentices": slot("number", "number:2:60:apprentices", "{E} trained {v}.|Over the years {e} taught {v}.",
                            "How many apprentices did {e} train?|How many apprentices did {e} teach?"),
    }, fillers("{E} kept detailed notebooks throughout life.|Friends described {e} as patient and stubborn.|Many "
               "letters written by {e} survive in private collections.|{E} rarely travelled abroad.|Some early "
               "designs by {e} never worked as planned.|A school now bears the name of {e}.|{E} worked late into "
               "the night.|Neighbours often heard hammering from the house of {e}.|{E} disliked long "
               "meetings.|A portrait of {e} hangs in the town hall.")),
    "ship": Kind("ship", "the", {
        "launched": slot("year", "year", "{E} was launched in {v}.|{E} first took to the water in {v}.",
                         "When was {e} launched?|In what year did {e} first take to the water?"),
        "scrapped": slot("year", "year", "{E} was scrapped in {v}.|{E} was broken up for scrap in {v}.",
                         "When was {e} scrapped?|In what year was {e} broken up?"),
        "captain": slot("person", "person", "The first captain of {e} was {v}.|{E} was commanded by {v}.",
                        "Who was the first captain of {e}?|Who commanded {e}?"),
        "owner": slot("person", "person", "The first owner of {e} was {v}.|{E} was bought by the merchant {v}.",
                      "Who owned {e} first?|Who bought {e}?"),
        "builder": slot("org", "company", "{E} was built by {v}.|The shipwrights of {e} were {v}.",
                        "Which company built {e}?|Which firm built {e}?"),
        "operator": slot("org", "company", "{E} was operated by {v}.|{E} sailed for {v}.",
                         "Which company operated {e}?|Which firm did {e} sail for?"),
        "home_port": slot("place", "town", "The home port of {e} was {v}.|{E} sailed from her home port of {v}.",
                          "Where was the home port of {e}?|Where did {e} sail from?"),
        "maiden": slot("place", "town", "On her maiden voyage, {e} sailed to {v}.|The maiden voyage of {e} ended in {v}.",
                       "Where did {e} sail on her maiden voyage?|Where did the maiden voyage of {e} end?"),
        "length": slot("number", "number:24:160:metres", "{E} measured {v}.|{E} was {v} long.",
                       "How many metres long was {e}?|How many metres did {e} measure?"),
        "crew": slot("number", "number:12:400:sailors", "{E} carried a crew of {v}.|The crew of {e} numbered {v}.",
                     "How many sailors were in the crew of {e}?|How many sailors did {e} carry?"),
        "cargo": slot("thing", "list:grain|timber|coal|wool bales|salted fish|copper ore|tea chests|olive oil",
                      "{E} mostly carried {v}.|The usual cargo of {e} was {v}.",
                      "What did {e} carry?|What was the usual cargo of {e}?"),
    }, fillers("{E} was painted dark green with a white stripe.|Sailors considered {e} a lucky ship.|A model of "
               "{e} stands in a local museum.|{E} was repaired several times after storms.|Paintings of {e} were "
               "popular in harbour taverns.|{E} had three masts and a small engine.|The deck of {e} was made of "
               "oak.|Storms never sank {e}.|Children liked to watch {e} leave the harbour.|The cabins of {e} "
               "were small and cold.")),
    "company": Kind("company", "", {
        "founded": slot("year", "year", "{E} was founded in {v}.|{E} opened its doors in {v}.",
                        "When was {e} founded?|In what year did {e} open its doors?"),
        "public": slot("year", "year", "{E} went public in {v}.|{E} first sold shares to the public in {v}.",
                       "When did {e} go public?|In what year did {e} first sell shares?"),
        "founder": slot("person", "person", "{E} was started by {v}.|The founder of {e} was {v}.",
                        "Who started {e}?|Who founded {e}?"),
        "ceo": slot("person", "person", "{E} is now led by {v}.|The chief executive of {e} is {v}.",
                    "Who leads {e}?|Who is the chief executive of {e}?"),
        "hq": slot("place", "town", "{E} has its headquarters in {v}.|The head office of {e} is in {v}.",
                   "Where is {e} headquartered?|Where is the head office of {e}?"),
        "factory": slot("place", "town", "The first factory of {e} was built in {v}.|{E} opened its first factory in {v}.",
                        "Where was the first factory of {e}?|In which town did {e} open its first factory?"),
        "product": slot("thing", "list:bicycle bells|paper lanterns|iron stoves|wax candles|sewing machines|"
                                 "pocket watches|tin toys|oil lamps|garden tools|leather boots",
                        "{E} makes {v}.|{E} is known for making {v}.",
                        "What does {e} make?|What is {e} known for making?"),
        "employees": slot("number", "number:40:9000:workers", "{E} employs {v}.|{E} has a staff of {v}.",
                          "How many workers does {e} employ?|How many workers are on the staff of {e}?"),
        "shops": slot("number", "number:2:300:shops", "{E} runs {v}.|{E} sells its goods in {v}.",
                      "How many shops does {e} run?|How many shops sell the goods of {e}?"),
    }, fillers("{E} has changed its logo several times.|Workers at {e} can join a company choir.|{E} sponsors a "
               "local football club.|The early years of {e} were difficult.|{E} publishes a yearly report for "
               "its shareholders.|The first workshop of {e} was in a barn.|Customers trust the goods of {e}.|{E} "
               "pays its workers every week.|The offices of {e} are painted white.|{E} rarely advertises.")),
    "festival": Kind("festival", "the", {
        "first": slot("year", "year", "{E} was first held in {v}.|The first edition of {e} took place in {v}.",
                      "When was {e} first held?|In what year did the first edition of {e} take place?"),
        "charter": slot("year", "year", "{E} received a royal charter in {v}.|{E} was granted a royal charter in {v}.",
                        "When did {e} receive a royal charter?|In what year was {e} granted a royal charter?"),
        "month": slot("month", "month", "{E} takes place in {v}.|{E} always begins in early {v}.",
                      "In which month does {e} take place?|In which month does {e} begin?"),
        "founder": slot("person", "person", "{E} was started by {v}.|The first edition of {e} was organised by {v}.",
                        "Who started {e}?|Who organised the first edition of {e}?"),
        "director": slot("person", "person", "The director of {e} is {v}.|{E} is now run by {v}.",
                         "Who is the director of {e}?|Who runs {e}?"),
        "town": slot("place", "town", "{E} is held each year in {v}.|Every year, {e} fills the streets of {v}.",
                     "Where is {e} held?|Where does {e} take place?"),
        "bonfire": slot("place", "mountain", "The closing bonfire of {e} is lit on {v}.|{E} ends with a bonfire on {v}.",
                        "Where is the closing bonfire of {e} lit?|Where does {e} end?"),
        "visitors": slot("number", "number:1500:90000:visitors", "{E} attracts {v}.|Every year {e} welcomes {v}.",
                         "How many visitors does {e} attract?|How many visitors come to {e}?"),
        "days": slot("number", "number:2:14:days", "{E} lasts {v}.|{E} runs for {v}.",
                     "How many days does {e} last?|How many days does {e} run for?"),
        "highlight": slot("thing", "list:a boat race|a lantern parade|a pumpkin contest|a bell-ringing "
                                   "competition|a mask market|a kite contest",
                          "The highlight of {e} is {v}.|Most visitors come to {e} for {v}.",
                          "What is the highlight of {e}?|What do most visitors come to {e} for?"),
    }, fillers("Local bakers sell special bread during {e}.|Children make costumes weeks before {e}.|{E} ends "
               "with fireworks over the water.|Musicians from many towns perform at {e}.|Hotels are often fully "
               "booked during {e}.|The programme of {e} changes every year.|Volunteers clean the streets after "
               "{e}.|Tickets for {e} sell out quickly.|Street cooks prepare soup for {e}.|Photographs of {e} "
               "appear in many newspapers.")),
    "river": Kind("river", "the", {
        "mapped": slot("year", "year", "{E} was first mapped in {v}.|The first map of {e} was drawn in {v}.",
                       "When was {e} first mapped?|In what year was the first map of {e} drawn?"),
        "dam": slot("year", "year", "A dam was built across {e} in {v}.|{E} was dammed in {v}.",
                    "When was a dam built across {e}?|In what year was {e} dammed?"),
        "source": slot("place", "mountain", "{E} rises on {v}.|The source of {e} lies on {v}.",
                       "Where does {e} rise?|Where is the source of {e}?"),
        "mouth": slot("place", "sea", "{E} empties into the {v}.|At its mouth, {e} meets the {v}.",
                      "Where does {e} empty?|Where does {e} meet the sea?"),
        "explorer": slot("person", "person", "{E} was first explored by {v}.|The whole of {e} was explored by {v}.",
                         "Who first explored {e}?|Who explored the whole of {e}?"),
        "engineer": slot("person", "person", "The first bridge over {e} was designed by {v}.|"
                                             "The engineer of the first bridge over {e} was {v}.",
                         "Who designed the first bridge over {e}?|Who was the engineer of the first bridge over {e}?"),
        "length": slot("number", "number:40:1400:kilometres", "{E} is {v} long.|{E} flows for {v}.",
                       "How many kilometres long is {e}?|How many kilometres does {e} flow for?"),
        "bridges": slot("number", "number:3:60:bridges", "{E} is crossed by {v}.|There are {v} over {e}.",
                        "How many bridges cross {e}?|How many bridges are there over {e}?"),
        "famous_for": slot("thing", "list:silver eels|river pearls|white water|willow islands|stone mills|"
                                    "green herons",
                           "{E} is famous for its {v}.|Painters praise {e} for its {v}.",
                           "What is {e} famous for?|What do painters praise {e} for?"),
    }, fillers("{E} often floods in spring.|Small boats carry timber along {e}.|Several old mills stand on the "
               "banks of {e}.|{E} freezes over in very cold winters.|Walking paths follow {e} for much of its "
               "course.|Painters have long been drawn to {e}.|The water of {e} is clear and cold.|Otters live "
               "along the quiet parts of {e}.|Anglers sit beside {e} on summer evenings.|Fog often lies over {e} "
               "in autumn.")),
}


@dataclass
class Entity:
    """A named thing a paragraph talks about; `article` is 'the' for ships, rivers and festivals."""

    name: str
    article: str = ""

    def mention(self, sentence_start: bool) -> str:
        """The name as it appears in running text (with its article, capitalised at a sentence start)."""
        if not self.article:
            return self.name
        article = self.article.capitalize() if sentence_start else self.article
        return f"{article} {self.name}"


@dataclass
class Span:
    """A slot value placed in the context."""

    text: str
    start: int
    type: str
    slot: str


class NameMaker:
    """Draws invented names that are never reused across the whole sample (train and dev)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _unique(self, draw: Callable[[], str]) -> str:
        for _ in range(10_000):
            name = draw()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name pool exhausted")

    def _place(self, suffixes: str) -> str:
        return self.rng.choice(PLACE_PREFIXES) + self.rng.choice(SUFFIXES[suffixes])

    def _surname(self) -> str:
        return self.rng.choice(SURNAME_PREFIXES) + self.rng.choice(SUFFIXES["surname"])

    def value(self, kind: str) -> str:
        """A fresh name of the given kind ('person', 'town', 'river', ...)."""
        return self._unique(lambda: self.draw(kind))

    def draw(self, kind: str) -> str:
        """One random name of the given kind (it may have been drawn before)."""
        rng = self.rng
        makers = {
            "person": lambda: f"{rng.choice(FIRST_NAMES)} {self._surname()}",
            "town": lambda: self._place("town"),
            "river": lambda: self._place("river") + " River",
            "mountain": lambda: "Mount " + self._place("mountain"),
            "sea": lambda: rng.choice(["Sea of ", "Gulf of "]) + self._place("mountain"),
            "ship": lambda: " ".join(rng.choice(words) for words in SHIP_WORDS),
            "company": lambda: rng.choice([
                lambda: f"{self._surname()} & {self._surname()}",
                lambda: f"{self._surname()} Brothers",
                lambda: f"{self._surname()} Ironworks",
                lambda: f"{rng.choice(SURNAME_PREFIXES)}ora Mills",
            ])(),
            "festival": lambda: f"{rng.choice(SHIP_WORDS[0])} {rng.choice(FESTIVAL_WORDS)} Festival",
        }
        return makers[kind]()


def draw_value(slot: Slot, names: NameMaker, rng: random.Random) -> str:
    """A value for a slot: a year, a month, a name, a formatted quantity or an item of the slot's own list."""
    source = slot.source
    if source == "year":
        return str(rng.randint(*YEARS))
    if source == "month":
        return rng.choice(MONTHS)
    if source.startswith("number:"):
        _, low, high, unit = source.split(":")
        number = rng.randint(int(low), int(high))
        return f"{number:,} {unit}" if number >= 10_000 else f"{number} {unit}"
    if source.startswith("list:"):
        return rng.choice(source[5:].split("|"))
    return names.value(source)


def render(template: str, entity: Entity, value: str | None) -> tuple[str, int | None]:
    """Fill '{E}'/'{e}' (entity at/after a sentence start) and '{v}'; return the text and the value offset."""
    text = template.replace("{E}", entity.mention(True)).replace("{e}", entity.mention(False))
    if value is None:
        return text, None
    offset = text.index("{v}")
    return text.replace("{v}", value), offset


def assemble(parts: list[tuple[str, int | None, Span | None]], rng: random.Random) -> tuple[str, list[Span]]:
    """Shuffle the sentences, join them and fix every span's character offset."""
    rng.shuffle(parts)
    context, spans = "", []
    for text, offset, span in parts:
        if context:
            context += " "
        if span is not None and offset is not None:
            span.start = len(context) + offset
            spans.append(span)
        context += text
    return context, spans


def slots_by_type(kind: str) -> dict[str, list[str]]:
    """The kind's slot names grouped by answer type, in declaration order."""
    grouped: dict[str, list[str]] = {}
    for name, spec in KINDS[kind].slots.items():
        grouped.setdefault(spec.type, []).append(name)
    return grouped


def gold_variants(context: str, span: Span, rng: random.Random) -> list[tuple[str, int]]:
    """Gold answers like SQuAD dev's several annotators: the span itself, then the same span again,
    a shorter one (a surname, a bare number) or a longer one (with its article)."""
    variants = [(span.text, span.start)]
    words = span.text.split(" ")
    if span.type == "person" and len(words) > 1:
        variants.append((words[-1], span.start + len(span.text) - len(words[-1])))
    elif len(words) > 1 and (span.type == "number" or span.text.endswith(" River")):
        variants.append((words[0], span.start))
    if context[max(0, span.start - 4):span.start] == "the ":
        variants.append(("the " + span.text, span.start - 4))
    extra = rng.sample(variants, k=min(len(variants), rng.choice([1, 2])))
    return [(span.text, span.start)] + extra


def qa_entry(question: str, golds: list[tuple[str, int]], plausible: Span | None) -> dict:
    """One SQuAD 2.0 question (without its id): answerable when `golds` is not empty."""
    if golds:
        return {"question": question, "answers": [{"text": t, "answer_start": s} for t, s in golds],
                "is_impossible": False}
    assert plausible is not None
    return {"question": question, "answers": [], "is_impossible": True,
            "plausible_answers": [{"text": plausible.text, "answer_start": plausible.start}]}


def build_paragraph(kind: str, names: NameMaker, rng: random.Random, long: bool, split: str,
                    multi_gold: bool) -> dict:
    """One paragraph (each type stated at most once) with its questions, about a third unanswerable."""
    spec = KINDS[kind]
    entity = Entity(names.value(spec.name_source), spec.article)
    grouped = slots_by_type(kind)
    types = list(grouped)
    stated_types = rng.sample(types, rng.randint(*(LONG_STATED if long else SHORT_STATED)))
    stated = [rng.choice(grouped[t]) for t in stated_types]
    parts: list[tuple[str, int | None, Span | None]] = []
    for slot_name in stated:
        value = draw_value(spec.slots[slot_name], names, rng)
        sentence, offset = render(rng.choice(spec.slots[slot_name].sentences), entity, value)
        parts.append((sentence, offset, Span(value, -1, spec.slots[slot_name].type, slot_name)))
    n_fillers = rng.randint(*(LONG_FILLERS if long else SHORT_FILLERS))
    parts += [(render(f, entity, None)[0], None, None) for f in rng.sample(spec.fillers, n_fillers)]
    context, spans = assemble(parts, rng)

    def ask(slot_name: str) -> str:
        return render(rng.choice(spec.slots[slot_name].questions), entity, None)[0]

    qas = []
    for span in spans:
        golds = gold_variants(context, span, rng) if multi_gold and rng.random() < DEV_MULTI_GOLD_SHARE else [
            (span.text, span.start)]
        qas.append(qa_entry(ask(span.slot), golds, None))
    unstated = [(other, span) for span in spans for other in grouped[span.type] if other not in stated]
    rng.shuffle(unstated)
    for slot_name, plausible in unstated[:(len(spans) + rng.randint(0, 1)) // 2]:
        qas.append(qa_entry(ask(slot_name), [], plausible))
    rng.shuffle(qas)
    for index, qa in enumerate(qas):
        digest = hashlib.sha1(f"{split}|{entity.name}|{index}".encode()).hexdigest()[:24]
        qas[index] = {"id": digest, **qa}
    return {"title": entity.name, "paragraphs": [{"context": context, "qas": qas}]}


def build_split(split: str, n_paragraphs: int, names: NameMaker, rng: random.Random) -> dict:
    """A whole split: kinds in rotation, a fixed share of long paragraphs."""
    kinds = list(KINDS)
    n_long = round(n_paragraphs * LONG_SHARE)
    long_flags = [True] * n_long + [False] * (n_paragraphs - n_long)
    rng.shuffle(long_flags)
    data = [build_paragraph(kinds[i % len(kinds)], names, rng, long_flags[i], split, multi_gold=split == "dev")
            for i in range(n_paragraphs)]
    return {"version": "v2.0", "data": data}


def write_json_atomic(obj: dict, path: Path) -> None:
    """Write JSON through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            json.dump(obj, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(out_dir: Path) -> dict[str, Path]:
    """Write both splits into `out_dir` (train first, then dev: names never repeat across them)."""
    rng = random.Random(SEED)
    names = NameMaker(rng)
    written = {}
    for split, n_paragraphs in SPLITS.items():
        path = out_dir / f"{split}-v2.0.json"
        write_json_atomic(build_split(split, n_paragraphs, names, rng), path)
        written[split] = path
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where to write the two files")
    args = parser.parse_args(argv)
    for split, path in generate(args.out_dir).items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
