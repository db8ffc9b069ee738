"""History & credits page."""

from ui.access import page_access
from ui.history import history_page

page_access()  # first, whatever started this script: nothing is drawn before the password
history_page()
