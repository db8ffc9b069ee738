"""History & credits page."""

from ui.history import history_page

history_page()
