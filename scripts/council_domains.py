"""Rebuild makersbot/data/council_domains.csv: which UK council an e-mail domain belongs to.

    python scripts/council_domains.py SOURCES [OUT]

SOURCES is a folder holding mySociety's full register `uk_local_authorities.csv` and a
`council-domains/` folder with the three files makersbot/data/README.md lists (GOV.UK's
local-links-manager, ukps-domains, the .gov.uk domain register). OUT defaults to
makersbot/data/council_domains.csv. Every code written is a council of the packaged register
(makersbot/data/uk_local_authorities.csv); councils that were abolished hand their domains to
their successors (`replaced-by`, so one domain can name two councils).

A domain match verifies a person's council with no question asked, so the build prefers
leaving a domain out to filing it under the wrong council: the .gov.uk register's hostnames
are kept only when they spell the council's own name (it also files parish, town and
partnership domains under districts), and nothing is guessed from a name that does not match
the register exactly. What was left out is printed for review.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PACKAGED_REGISTER = ROOT / "makersbot" / "data" / "uk_local_authorities.csv"
DEFAULT_OUT = ROOT / "makersbot" / "data" / "council_domains.csv"

LLM = "local-links-manager"
UKPS = "ukps-domains"
OPEN_REGISTER = "government-domain-data"

# ukps-domains entries that describe their body in prose rather than "Local authority: X".
UKPS_BODIES: dict[str, tuple[str, ...]] = {
    "cumbria.gov.uk": ("CBD", "WAF"),  # Cumbria CC, split in 2023; its addresses stay in use
    "westmorlandandfurness.gov.uk": ("WAF",),
    "london.gov.uk": ("GLA",),
}
# ukps-domains entries that are not councils of the register: GLA functional bodies, a
# national park authority, a combined authority the register does not have.
UKPS_NOT_COUNCILS = {
    "tfl.gov.uk",
    "london-fire.gov.uk",
    "queenelizabetholympicpark.co.uk",
    "lakedistrict.gov.uk",
    "cumbria-ca.gov.uk",
}
# Names in ukps-domains notes that the register spells differently.
UKPS_NAMES = {"West Somerset": "WSO", "Stratford-upon-Avon": "STR"}
# Words that say what kind of council a name is, left out when names are compared.
_KIND_WORDS = re.compile(
    r"\b(city|district|borough|county|council|unitary|london|metropolitan|of|the)\b", re.I
)
# Councils that share staff and mail from one joint domain (listed in the .gov.uk register
# under one of them only): the person picks which of the two they are with.
JOINT_DOMAINS: dict[str, tuple[str, ...]] = {
    "southandvale.gov.uk": ("SOX", "VAL"),
    "baberghmidsuffolk.gov.uk": ("BAB", "MSU"),
    "bromsgroveandredditch.gov.uk": ("BRM", "RED"),
    "richmondandwandsworth.gov.uk": ("RIC", "WND"),
}
# Endings of a .gov.uk hostname that still name the council itself ("hullcc", "stedsbc").
_COUNCIL_SUFFIXES = ("", "cc", "dc", "bc", "mbc", "cbc", "council", "online")
_OPEN_REGISTER_KINDS = ("local-authority-eng", "local-authority-sct", "principal-local-authority")


def letters(text: str) -> str:
    """Lower-case letters only: "Stratford-on-Avon" -> "stratfordonavon"."""
    return re.sub(r"[^a-z]", "", text.lower().replace("&", "and"))


def core(name: str) -> str:
    """A name without its council-type words: "Leeds City" and "Leeds City Council" -> "leeds"."""
    return letters(_KIND_WORDS.sub(" ", name))


def split_alt_names(value: str) -> list[str]:
    # Names are separated by a bare comma; a name's own commas are followed by a space.
    return [name for name in re.split(r",(?! )", value) if name.strip()]


class Register:
    """mySociety's full register (current and abolished councils) with the packaged codes."""

    def __init__(self, full: Path, packaged: Path) -> None:
        with full.open(encoding="utf-8", newline="") as f:
            self.rows = {r["local-authority-code"]: r for r in csv.DictReader(f)}
        with packaged.open(encoding="utf-8", newline="") as f:
            self.current = {r["local-authority-code"] for r in csv.DictReader(f)}
        self.by_gss: dict[str, str] = {}
        self.by_name: dict[str, set[str]] = defaultdict(set)
        self.by_core: dict[str, set[str]] = defaultdict(set)
        for code, row in self.rows.items():
            self.by_gss[row["gss-code"]] = code
            for former in row["former-gss-codes"].split(","):
                if former.strip():
                    self.by_gss.setdefault(former.strip(), code)
            for name in self.names(code):
                self.by_name[letters(name)].add(code)
                self.by_core[core(name)].add(code)

    def named(self, name: str) -> tuple[str, ...]:
        """The current councils a name means: exactly, else without council-type words;
        several old and new councils of one name count once when they lead to one today."""
        for codes in (self.by_name[letters(name)], self.by_core[core(name)]):
            current = {c for code in codes for c in self.successors(code)}
            if len(current) == 1:
                return tuple(current)
            if codes:
                return ()
        return ()

    def names(self, code: str) -> list[str]:
        row = self.rows[code]
        return [row["official-name"], row["nice-name"], *split_alt_names(row["alt-names"])]

    def successors(self, code: str) -> tuple[str, ...]:
        """The current councils a (possibly abolished) council's work went to."""
        if code in self.current:
            return (code,)
        row = self.rows.get(code)
        if row is None or not row["replaced-by"]:
            return ()
        found: list[str] = []
        for successor in row["replaced-by"].split(","):
            found += [c for c in self.successors(successor.strip()) if c not in found]
        return tuple(found)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def from_local_links(register: Register, folder: Path) -> Iterable[tuple[str, str, str]]:
    """Each council's web domain, by GSS code."""
    path = folder / "local-links-manager_local-authorities.csv"
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            code = register.by_gss.get(row["gss"])
            codes = register.successors(code) if code else ()
            if not codes:
                print(f"skipped {LLM}: {row['name']} ({row['gss']}) is not in the register")
            for current in codes:
                yield host_of(row["homepage_url"]), current, LLM


def from_ukps(register: Register, folder: Path) -> Iterable[tuple[str, str, str]]:
    """Domains used for e-mail, with the council named in a note."""
    data = json.loads((folder / "ukps-domains_user_domains.json").read_text(encoding="utf-8"))
    for entry in data["domains"]:
        if entry.get("organisation_type_id") != "local_authority":
            continue
        domain, note = entry["domain_pattern"].lower(), entry.get("notes") or ""
        if domain in UKPS_NOT_COUNCILS:
            continue
        codes: tuple[str, ...] = UKPS_BODIES.get(domain, ())
        if not codes:
            name = note.removeprefix("Local authority: ")
            fixed = UKPS_NAMES.get(name)
            codes = register.successors(fixed) if fixed else register.named(name)
            if not codes:
                print(f"skipped {UKPS}: {domain} ({name!r} names no one council)")
                continue
        for code in codes:
            yield domain, code, UKPS


def from_open_register(register: Register, folder: Path) -> Iterable[tuple[str, str, str]]:
    """.gov.uk hostnames of councils, kept only when they spell the council's own name."""
    path = folder / "openregister_government-domain-data.tsv"
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            kind, _, code = row["organisation"].partition(":")
            if kind not in _OPEN_REGISTER_KINDS or row["end-date"] or code not in register.rows:
                continue
            host = letters(row["hostname"])
            names = {letters(name) for name in register.names(code)}
            names |= {n.removesuffix("council") for n in names}
            if any(host.removesuffix(end) in names for end in _COUNCIL_SUFFIXES):
                for current in register.successors(code):
                    yield f"{row['hostname'].lower()}.gov.uk", current, OPEN_REGISTER


def build(folder: Path) -> dict[str, dict[str, str]]:
    """domain -> {council code: source}. A domain keeps the codes of the first source that
    lists it (local-links-manager, then ukps-domains, then the .gov.uk register)."""
    register = Register(folder / "uk_local_authorities.csv", PACKAGED_REGISTER)
    sources = folder / "council-domains"
    domains: dict[str, dict[str, str]] = {}
    for reader in (from_local_links, from_ukps, from_open_register):
        found: dict[str, dict[str, str]] = defaultdict(dict)
        for domain, code, source in reader(register, sources):
            found[domain][code] = source
        for domain, codes in found.items():
            if domain in domains and set(codes) != set(domains[domain]):
                print(f"kept {domains[domain]} for {domain}; {source} says {sorted(codes)}")
            domains.setdefault(domain, codes)
    for domain, codes in JOINT_DOMAINS.items():
        domains[domain] = dict.fromkeys(codes, "joint")
    unknown = {c for codes in domains.values() for c in codes} - register.current
    assert not unknown, f"codes not in the packaged register: {unknown}"
    return domains


def write(domains: dict[str, dict[str, str]], out: Path) -> int:
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["domain", "council_code", "source"])
        rows = sorted((d, c, s) for d, codes in domains.items() for c, s in codes.items())
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__)
        return 2
    domains = build(Path(argv[1]))
    out = Path(argv[2]) if len(argv) == 3 else DEFAULT_OUT
    rows = write(domains, out)
    councils = {c for codes in domains.values() for c in codes}
    print(f"wrote {rows} rows: {len(domains)} domains for {len(councils)} councils to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
