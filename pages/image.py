"""Image page: everything on it comes from the catalog entry for grok-imagine."""

from ui.generate import generate_page

generate_page("grok-imagine")
