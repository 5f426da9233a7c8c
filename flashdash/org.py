"""The sales org as the filters and pages see it: teams, regions, reps, segment vocabularies."""

from __future__ import annotations

import polars as pl

from flashdash.access import Actor
from flashdash.store import Store


def filter_options(store: Store, actor: Actor) -> dict[str, pl.DataFrame]:
    """What the sidebar filters may offer this actor (reps and teams limited to their scope)."""
    scope = actor.scope_params()
    with store.read() as con:
        return {
            "teams": store.frame("filter_options_teams", con, **scope),
            "regions": store.frame("filter_options_regions", con),
            "reps": store.frame("filter_options_reps", con, **scope),
            "verticals": store.frame("filter_options_verticals", con),
            "channels": store.frame("filter_options_channels", con),
        }
