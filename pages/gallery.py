"""Gallery page: every result, newest first."""

from ui.access import page_access

page_access()  # first, whatever started this script: nothing is drawn before the password
