"""Reference app (b): 4 pages, a sidebar, a title, 3 metrics, a filtered 50-row table and a caption."""

from benchmarks.reference.floor import run

run(extras=False)
