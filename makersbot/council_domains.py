"""Which council an e-mail address belongs to, from the packaged domain register.

The register (`makersbot/data/council_domains.csv`, built by `scripts/council_domains.py`; see
`makersbot/data/README.md`) maps a domain to one council, or to two that share it. An address
matches its host or the nearest listed parent domain, so `bob@mail.woking.gov.uk` is Woking.
"""

from __future__ import annotations

import csv
import functools
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

_DATA_PACKAGE = "makersbot"
_DATA_FILE = "data/council_domains.csv"


@dataclass(frozen=True)
class DomainMatch:
    """The listed domain an address fell under and the council codes it names (one, or
    several when councils share it)."""

    domain: str
    codes: tuple[str, ...]


class CouncilDomains:
    """An immutable map from e-mail domains to council codes."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        codes: dict[str, list[str]] = defaultdict(list)
        for domain, code in pairs:
            domain = domain.strip().lower()
            if domain and code not in codes[domain]:
                codes[domain].append(code)
        self._codes = {domain: tuple(sorted(found)) for domain, found in codes.items()}

    @classmethod
    def load(cls) -> CouncilDomains:
        """The register shipped with the package."""
        text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
        rows = csv.DictReader(io.StringIO(text))
        return cls((row["domain"], row["council_code"]) for row in rows)

    def __len__(self) -> int:
        return len(self._codes)

    def domains_of(self, code: str) -> list[str]:
        """Every domain that names the council `code`."""
        return sorted(d for d, codes in self._codes.items() if code in codes)

    def match_email(self, email: str) -> DomainMatch | None:
        """The council(s) of an address, or None when its domain is not listed."""
        _, at, host = email.strip().rpartition("@")
        if not at:
            return None
        return self.match_host(host)

    def match_host(self, host: str) -> DomainMatch | None:
        """The nearest listed domain at or above `host` ("mail.woking.gov.uk" -> woking)."""
        labels = host.strip().strip(".").lower().split(".")
        # Every parent but the top-level label; "gov.uk" is not listed, so it matches nothing.
        for start in range(len(labels) - 1):
            domain = ".".join(labels[start:])
            if domain in self._codes:
                return DomainMatch(domain, self._codes[domain])
        return None


@functools.cache
def default_domains() -> CouncilDomains:
    """The packaged register, loaded once per process."""
    return CouncilDomains.load()
