"""Reference app (c): (b) plus a dataframe with an image column and a bar chart."""

from benchmarks.reference.floor import run

run(extras=True)
