"""``app.py`` with every live part's timer an hour long (the safety timers and the fallback paces, ``ui.live``), so a
change reaches an open page only through the push feed. ``LIVE_FEED=off`` leaves the feed's route out (the page's
script then falls back to its timers, an hour here): the check that a test fails without the feed.
``LIVE_LEAST_TIMER=0`` keeps every timer at its own pace (``benchmarks/live_page.py``: the feed against the timers).

Served by ``StreamlitServer(..., script=Path("tests/slow_timers_app.py"))``; Streamlit finds ``app`` below.
"""

from __future__ import annotations

import os

import streamlit as st

import ui.live
from app import lifespan, session_alive, studio
from rivya.hook_route import hook_route
from rivya.live_route import live_route
from ui.services import MAIN_SCRIPT

ui.live.LEAST_TIMER_SECONDS = float(os.environ.get("LIVE_LEAST_TIMER", "3600"))
ROUTES = [hook_route(studio)] + ([] if os.environ.get("LIVE_FEED") == "off" else [live_route(studio, session_alive)])

app = st.App(MAIN_SCRIPT, lifespan=lifespan, routes=ROUTES)
