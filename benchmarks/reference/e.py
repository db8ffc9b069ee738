"""Reference app (e): what History shows, drawn the plain Streamlit way (``history_floor.py``)."""

import streamlit as st

from benchmarks.reference.history_floor import read_jobs, run

run(st.cache_data(read_jobs))  # read once per process, as an app caches what does not change
