"""Composes config, rules and number placement into one decision per call.

Loaded once per process (the daemon keeps it; a classic-AGI process builds it per call).
"""

from functools import lru_cache

from .decision import Policy, decide
from .numbering import locate
from .rules import load_rules, normalise_code


class BadRegion(ValueError):
    pass


class Engine:
    def __init__(self, config, rules=None):
        self.config = config
        self.rules = rules or load_rules(config.rules_file or None)
        self.policy = Policy(unknown_mode=config.unknown_mode,
                             uncertain_mode=config.uncertain_mode)

    def region_for(self, region=None, channel="", dnid=""):
        """The trunk region: explicit argument, else the trunk map, else the default."""
        if region:
            code = normalise_code(region)
            if not code:
                raise BadRegion(f"'{region}' is not a region code like US-CA or DE.")
            return code
        for key in sorted(self.config.trunks, key=len, reverse=True):
            if channel.startswith(key) or (dnid and dnid.startswith(key)):
                return normalise_code(self.config.trunks[key])
        return normalise_code(self.config.default_region) if self.config.default_region else None

    def decide(self, number, region=None, direction="inbound"):
        """(remote location, decision); both immutable, so repeated calls share them."""
        return self._decide(number, region, direction)

    @lru_cache(maxsize=8192)  # noqa: B019 - one engine per process; the cache is its point
    def _decide(self, number, region, direction):
        home = region.partition("-")[0] if region else None
        remote = locate(number, home)
        return remote, decide(remote, region, self.rules, self.policy, direction)
