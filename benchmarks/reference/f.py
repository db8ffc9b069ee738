"""Reference app (f): what the Image and Video pages show with four running jobs, the plain way (``jobs_floor.py``)."""

from benchmarks.reference.jobs_floor import run

run()
