"""Image page: everything on it comes from the catalog entry for grok-imagine."""

from ui.access import page_access
from ui.generate import generate_page

page_access()  # first, whatever started this script: nothing is drawn before the password
generate_page("grok-imagine")
