"""The studio's pages in the sidebar's order: one list for the navigation (``studio_app.py``) and for the pages' own
addresses (``app.py``, ``rivya/page_route.py``), so a page added here has both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class PageEntry:
    script: str  # relative to the main script's folder; its layout is in this file
    title: str
    icon: str

    @property
    def address(self) -> str:
        """The page's address under the app's root: its file's name, as ``st.Page`` names it."""
        return PurePosixPath(self.script).stem


PAGES = (  # the first is the default page (Home, also at the root)
    PageEntry("pages/home.py", "Home", ":material/home:"),
    PageEntry("pages/image.py", "Image", ":material/image:"),
    PageEntry("pages/video.py", "Video", ":material/movie:"),
    PageEntry("pages/explore.py", "Explore", ":material/grid_view:"),
    PageEntry("pages/gallery.py", "Gallery", ":material/photo_library:"),
    PageEntry("pages/history.py", "History & credits", ":material/receipt_long:"),
)
