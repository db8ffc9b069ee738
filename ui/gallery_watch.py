"""The Gallery's live part: the page runs again when the results it would show changed (a new result, one removed).
Woken by ``ui.live``'s mechanism."""

from __future__ import annotations

from rivya import gallery
from rivya.constants import GALLERY_LIVE_SECONDS
from rivya.studio import Studio
from ui.live import follow
from ui.session import session


def gallery_changed(studio: Studio) -> bool:
    """When the counter moved, the ids the grid would show: True if they differ from those drawn (a new result, one
    removed). A look that finds nothing new is one read of the counter."""
    drawn, jobs_filter = session().gallery_drawn, session().gallery_filter
    if drawn is None or jobs_filter is None:
        return False
    signature = studio.log.signature()
    if signature == drawn[0]:
        return False
    ids = gallery.shown_ids(studio.log, jobs_filter, session().gallery_pages)
    session().gallery_drawn = (signature, drawn[1])
    return ids != drawn[1]


def follow_gallery(studio: Studio) -> None:
    follow(lambda: gallery_changed(studio), name="gallery", fallback=GALLERY_LIVE_SECONDS)
