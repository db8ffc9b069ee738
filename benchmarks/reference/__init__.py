"""Reference apps for the page benchmarks (issue 21): what Streamlit itself costs here, served beside the Studio.

- ``a.py``: ``st.write("hello")``;
- ``b.py``: ``st.navigation`` with 4 pages, a sidebar, a title, 3 metrics, a text input filtering a 50-row
  ``st.dataframe``, and a caption;
- ``c.py``: (b) plus a dataframe with an image column and a bar chart;
- ``d.py``: the least picture grid: 2 pages, a title, a search box over captioned pictures, 15 ``st.image`` tiles
  as wide as the Gallery's, and "Load more" in a fragment (the floor for the Gallery's pictures);
- ``e.py``: what History shows, the plain Streamlit way (``history_floor.py``; the floor for History);
- ``f.py``: what the Image and Video pages show with four running jobs, the plain way (``jobs_floor.py``).

Run one by hand: ``streamlit run benchmarks/reference/b.py`` (from the repository's root, so the app's own
``.streamlit/config.toml`` applies to both).
"""
