"""How people write council names, and how two spellings are brought to one form.

``normalise`` and ``core_name`` are applied to both what people type and the register's own
names, so that comparing them is comparing strings; the word helpers below are the comparisons
``CouncilRegister.match`` uses (see ``makersbot.councils``).
"""

from __future__ import annotations

import re
import unicodedata

# Words that say what kind of council it is rather than which one. People add or drop them at
# will ("Guildford", "Guildford BC", "Guildford Borough Council"), so they are dropped from both
# sides before comparing. "and" is kept: it is part of names like "Brighton and Hove".
_TYPE_WORDS = frozenset(
    {
        "council",
        "councils",
        "borough",
        "boro",
        "city",
        "district",
        "county",
        "metropolitan",
        "unitary",
        "authority",
        "combined",
        "mayoral",
        "corporation",
        "royal",
        "of",
        "the",
        "cyngor",  # Welsh for council: "Cyngor Gwynedd"
        "bc",
        "dc",
        "cc",
        "mbc",
        "mdc",
        "cbc",
        "ua",
        "ca",
        "cca",
        "mca",
    }
)

# "London Borough of Brent" must strip to "brent", but "london" alone is a real name word
# ("City of London", "Greater London"), so it goes only as part of this phrase.
_LONDON_BOROUGH = re.compile(r"\blondon boro(?:ugh)?\b")

# Words that join two places into one authority ("Brighton and Hove", "Blackburn with Darwen").
# A longer name that carries on with one of these still names the shorter place on its own, so
# it does not make the shorter name ambiguous ("Hull" is not also "Hull and East Yorkshire").
JOINING_WORDS = frozenset({"and", "with"})

# One spelling per word, applied to both sides. The county abbreviations are how council staff
# write them ("Herts CC", "South Cambs", "East Staffs") and none of them is in alt-names.
_WORD_SPELLINGS: dict[str, str] = {
    "saint": "st",
    "beds": "bedfordshire",
    "bucks": "buckinghamshire",
    "cambs": "cambridgeshire",
    "derbys": "derbyshire",
    "glos": "gloucestershire",
    "hants": "hampshire",
    "herts": "hertfordshire",
    "lancs": "lancashire",
    "leics": "leicestershire",
    "lincs": "lincolnshire",
    "northants": "northamptonshire",
    "notts": "nottinghamshire",
    "oxon": "oxfordshire",
    "staffs": "staffordshire",
    "wilts": "wiltshire",
    "worcs": "worcestershire",
    "yorks": "yorkshire",
}

# Words that carve a part out of a larger area: "West Berkshire", "Central Bedfordshire".
_COMPASS_WORDS = frozenset({"north", "south", "east", "west", "central", "mid", "greater"})

# Well-known spellings the data lacks. The source's "Sir Ynys Môn" is mis-encoded ("Mï¿½n"),
# so the Welsh name of Anglesey would otherwise only be reached by fuzzy matching.
_EXTRA_NAMES: dict[str, tuple[str, ...]] = {"AGY": ("Ynys Môn", "Sir Ynys Môn")}

# Fragments of double-encoded UTF-8 seen in the source's alt-names ("Mï¿½n", "Cityï¾ and").
_MOJIBAKE = ("\ufffd", "ï¿", "ï¾")

# alt-names joins names with a bare "," while a name's own commas are followed by a space
# ("Bristol, City of", "Newcastle Upon Tyne, North Tyneside and Northumberland Combined
# Authority"). Splitting on every comma would hand the North of Tyne Combined Authority the name
# "Newcastle upon Tyne" and Bristol City Council the name "City of".
_ALT_NAME_SEPARATOR = re.compile(r",(?! )")


def normalise(text: str) -> str:
    """Lower-case ``text`` and reduce it to plain words separated by single spaces.

    Accents are dropped ("Môn" -> "mon"), "&" becomes "and", apostrophes vanish ("King's" ->
    "kings"), any other punctuation separates words ("St. Albans", "Stoke-on-Trent"), and
    "saint" and county abbreviations are spelled one way ("Herts" -> "hertfordshire").
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = plain.replace("&", " and ")
    plain = re.sub(r"['\u2019]", "", plain)
    plain = re.sub(r"[^a-z0-9]+", " ", plain)
    return " ".join(_WORD_SPELLINGS.get(word, word) for word in plain.split())


def core_name(normalised: str) -> str:
    """Strip council-type words from an already normalised name ("guildford bc" -> "guildford")."""
    without_london = _LONDON_BOROUGH.sub(" ", normalised)
    words = [word for word in without_london.split() if word not in _TYPE_WORDS]
    # Dropping "City" and "County" can strand a joining word: "City and County of Swansea",
    # "St Albans City and District Council".
    while words and words[0] in JOINING_WORDS:
        words.pop(0)
    while words and words[-1] in JOINING_WORDS:
        words.pop()
    return " ".join(words)


def _is_garbled(name: str) -> bool:
    return any(marker in name for marker in _MOJIBAKE)


def names_of(row: dict[str, str]) -> list[str]:
    """Every spelling a row gives: official name, nice name and each of its alt-names."""
    names = [row["official-name"], row["nice-name"]]
    names.extend(_ALT_NAME_SEPARATOR.split(row["alt-names"]))
    names.extend(_EXTRA_NAMES.get(row["local-authority-code"].strip(), ()))
    return [name for name in names if name.strip() and not _is_garbled(name)]


def starts_with_words(name: str, prefix: str) -> bool:
    return name.startswith(prefix + " ")


def contains_words(name: str, words: str) -> bool:
    return f" {words} " in f" {name} "


def is_part_of(name: str, words: str) -> bool:
    """Whether ``name`` is ``words`` with only compass words before it ("west berkshire")."""
    head, _, tail = f" {name} ".rpartition(f" {words} ")
    return not tail.strip() and bool(head.split()) and set(head.split()) <= _COMPASS_WORDS
