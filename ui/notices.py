"""Told when a job finishes, on any page: a toast with a link (one per look: a batch's takes are one toast), the
count of new results in the tab's title, and optionally a sound and a browser notification.

Whose jobs: the signed-in person's (``jobs.person``); without sign-in, this browser session's (``jobs.session_id``).

Toasts only for what the page does not show: a job ending on the page that shows it (its card turns, Home's Recent
results gain it, an Explore grid's cell fills in) gets no toast (``on_page``), and a toast still on screen when the
person opens another page is closed there, unless it is that page's own news (toasts are not the page's content and
must not follow the person).

Seen rule (per browser tab): a result counts as seen once this tab shows a page where it appears: the page of its
kind (Image, Video), the Gallery (every result), or its own large view (``?job=<id>``). A result that finishes while
its page is open is seen at once. The tab's title reads "(N) Imagine Studio" while N results are not seen yet.

Cost: the watcher runs in every open tab when the log changes (``ui.live``), so a look that finds nothing new is one
read of the log's one-row change counter (``TaskLog.signature``). Only when it changed does one query by primary key read
the viewer's jobs that are new since the last look or were unfinished then.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import streamlit as st

from rivya.errors import StorageError
from rivya.status import TERMINAL, JobStatus
from rivya.studio import Studio
from rivya.tasklog import TaskLog
from ui.access import current_person
from ui.grid import EXPLORE_PATH, GRID_PARAM
from ui.large_view import link_to, linked_job_id
from ui.live import live_fragment
from ui.services import session_id
from ui.session import session
from ui.text import md_escape, shorten

TITLE = "Imagine Studio"
# Seconds between two looks of the watcher while the page cannot be told of the log's changes (``ui.live``: the
# fallback pace), while the viewer has unfinished jobs (at the page's last full run) and otherwise.
REFRESH_SECONDS = 2.0
IDLE_REFRESH_SECONDS = 10.0
ALERTS = "notices:alerts"  # the sidebar toggle's widget key
# url_path of a page -> the kind of result it shows; the Gallery shows every kind.
PAGE_SHOWS = {"image": "image", "video": "video"}
SHOWS_EVERYTHING = "gallery"
HOME = ""  # Home's url_path: its Recent results show the newest results
# Streamlit pins toasts under the header, top right. On a phone that is over the top of the page's content (the job
# cards, "Settings from job #N are in the form"): there they sit at the bottom of the screen instead, the place
# phones show such notes, clear of what the person just pressed and reads. 640 px: where Streamlit stacks columns.
# Drawn by the frame (studio_app.py) with the other page-wide style, one element for both.
TOAST_STYLE = ("<style>@media (max-width: 640px) { [data-testid='stToastContainer'] {"
               " top: auto !important; bottom: 0.75rem; left: 0; right: 0; } }</style>")


@dataclass(frozen=True)
class Finished:
    """One of the viewer's jobs that ended since the last look."""

    id: int
    category: str
    status: str
    prompt: str
    batch_id: str | None = None
    grid_id: str | None = None  # the Explore grid it is a cell of

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED


@dataclass
class Watch:
    """What one browser tab knows about its viewer's jobs; plain data, so tests drive it without Streamlit.

    ``column`` is ``"person"`` or ``"session_id"`` (a constant of this module, never user input), ``viewer`` its value.
    """

    column: str
    viewer: str
    signature: tuple[int, int, int]
    newest: int  # every job with a larger id is new to this watch
    pending: set[int] = field(default_factory=set)  # the viewer's jobs that were unfinished at the last look
    unseen: dict[int, str] = field(default_factory=dict)  # succeeded results not seen yet: id -> category

    @classmethod
    def start(cls, log: TaskLog, column: str, viewer: str) -> Watch:
        """Begin watching: jobs that ended before now are not news; the viewer's unfinished ones are followed."""
        signature = log.signature()  # first: a job added after it is new to the watch, or read as pending below
        pending = log.pending_ids(column, viewer)  # ValueError for a column other than ``person`` or ``session_id``
        return cls(column, viewer, signature, max([signature[1], *pending]), pending)

    def check(self, log: TaskLog) -> list[Finished]:
        """The viewer's jobs that ended since the last look, oldest first; one counter read when nothing changed."""
        signature = log.signature()
        if signature == self.signature:
            return []
        # New rows since the last look, and the few rows that were unfinished then.
        rows = log.viewer_news(self.column, self.viewer, after=self.newest, also=self.pending)
        self.signature = signature
        self.newest = max([signature[1], self.newest, *(r.id for r in rows)])
        finished = []
        for job_id, category, status, prompt, batch_id, grid_id in rows:
            if status in TERMINAL:
                self.pending.discard(job_id)
                finished.append(Finished(job_id, category, status, prompt, batch_id, grid_id))
            else:
                self.pending.add(job_id)
        return sorted(finished, key=lambda f: f.id)

    def record(self, finished: list[Finished], page: str, grid: str | None = None) -> None:
        """Count the new results as unseen unless the page open now (with the Explore grid ``grid``) shows them."""
        for job in finished:
            if job.succeeded and not shows(page, job.category) and not in_grid(page, job, grid):
                self.unseen[job.id] = job.category

    def seen(self, page: str, link: int | None = None) -> None:
        """The tab shows ``page`` (and the large view of ``link``): the results it shows are seen."""
        for job_id, category in list(self.unseen.items()):
            if shows(page, category) or job_id == link:
                del self.unseen[job_id]


def shows(page: str, category: str) -> bool:
    """True when the page at ``page`` (a url_path) shows results of ``category``."""
    return page == SHOWS_EVERYTHING or PAGE_SHOWS.get(page) == category


def in_grid(page: str, job: Finished, grid: str | None) -> bool:
    """True when ``page`` is Explore showing the grid ``grid`` (its ``?grid=`` address) and ``job`` is one of its
    cells, failed ones too: each cell is the job's card."""
    return page == EXPLORE_PATH and grid is not None and job.grid_id == grid


def on_page(page: str, job: Finished, grid: str | None = None) -> bool:
    """True when the page at ``page`` shows this ended job as it is now (its card, its tile): no toast then. The
    Image and Video pages show their kind's jobs, failures too; the Gallery and Home show results; Explore the
    cells of the grid it shows (``grid``). History lists rows, not results: its toast offers the result itself."""
    if PAGE_SHOWS.get(page) == job.category or in_grid(page, job, grid):
        return True
    return job.succeeded and page in (SHOWS_EVERYTHING, HOME)


def to_tell(page: str, finished: list[Finished], grid: str | None = None) -> list[Finished]:
    """Of the jobs that ended in one look, those a toast tells of: the ones the open page does not show."""
    return [job for job in finished if not on_page(page, job, grid)]


def title(unseen: int) -> str:
    """The browser tab's title: "(N) Imagine Studio" while N results are not seen yet."""
    return f"({unseen}) {TITLE}" if unseen else TITLE


def _groups(finished: list[Finished]) -> list[list[Finished]]:
    """The jobs of one look, a batch's takes together (oldest take first); groups in the order they were sent."""
    groups: dict[str | int, list[Finished]] = {}
    for job in sorted(finished, key=lambda f: f.id):
        groups.setdefault(job.batch_id or job.id, []).append(job)
    return list(groups.values())


def _outcome(group: list[Finished]) -> str:
    """What happened to one job or one batch, e.g. "Image is ready", "3 images are ready", "2 images are ready, 1 did not
    finish"."""
    kind = md_escape(group[0].category)
    ready = sum(job.succeeded for job in group)
    failed = len(group) - ready
    if len(group) == 1:
        return f"{kind.capitalize()} {'is ready' if ready else 'did not finish'}"
    if not failed:
        return f"{ready} {kind}s are ready"
    if not ready:
        return f"{failed} {kind}s did not finish"
    return f"{ready} {kind}{'s are' if ready > 1 else ' is'} ready, {failed} did not finish"


def toast_text(finished: list[Finished]) -> str:
    """One toast's words for every job that ended in one look: the newest job or batch, with a link to its (first
    ready) result, and how many others ended too (three toasts for one batch would cover the page's header)."""
    groups = _groups(finished)
    group = groups[-1]
    first = next((job for job in group if job.succeeded), group[0])
    prompt = shorten(first.prompt, 60)
    others = len(finished) - len(group)
    more = f" · {others} more {'job' if others == 1 else 'jobs'} ended too" if others else ""
    return f"{_outcome(group)}: “{md_escape(prompt)}” [Open it]({link_to(first.id)}){more}"


def _viewer() -> tuple[str, str]:
    person = current_person()
    return ("person", person.id) if person else ("session_id", session_id())


def _watch(log: TaskLog) -> Watch:
    """This tab's watch, started anew when who is watching changed (signed in or out)."""
    column, viewer = _viewer()
    watch = session().watch
    if watch is None or (watch.column, watch.viewer) != (column, viewer):
        watch = session().watch = Watch.start(log, column, viewer)
    return watch


def _ask_next_run() -> None:
    if st.session_state.get(ALERTS):
        session().ask_permission = True


def _script(body: str) -> None:
    """Run ``body`` in the page (the tab's title, sound and notifications need the browser)."""
    st.html(f"<script>{body}</script>", unsafe_allow_javascript=True, width="content")


def _js(value: str) -> str:
    """``value`` as a JavaScript string literal that cannot end the script tag."""
    return json.dumps(value).replace("<", "\\u003c")


def _alert(finished: list[Finished]) -> None:
    """A short sound and, where the browser allowed it, a notification."""
    last = finished[-1]
    head = f"{last.category.capitalize()} {'ready' if last.succeeded else 'did not finish'} · {TITLE}"
    more = f" (+{len(finished) - 1} more)" if len(finished) > 1 else ""
    _script(
        f"/* jobs {','.join(str(f.id) for f in finished)} */ (() => {{"
        "try { const a = new AudioContext(), o = a.createOscillator(), g = a.createGain();"
        " o.frequency.value = 880; g.gain.value = 0.08; o.connect(g).connect(a.destination);"
        " o.start(); o.stop(a.currentTime + 0.25); } catch (e) {}"
        f" if ('Notification' in window && Notification.permission === 'granted')"
        f" new Notification({_js(head)}, {{body: {_js(last.prompt[:120] + more)}, tag: 'imagine-studio'}});"
        "})();"
    )


def _open_grid() -> str | None:
    """The Explore grid the open page shows (read at each look: a press on Explore opens its new grid)."""
    return st.query_params.get(GRID_PARAM) if session().page == EXPLORE_PATH else None


def _look(state: Watch, log: TaskLog) -> list[Finished]:
    """The viewer's jobs that ended since the last look (``StorageError`` while the log cannot be read)."""
    finished = state.check(log)
    state.record(finished, session().page, _open_grid())
    return finished


def _tell(finished: list[Finished]) -> None:
    """One toast for the jobs that ended in this look and are not on the open page; with the toggle on, a sound and
    a browser notification for every one (the person may be in another tab).

    A success's toast is short (it only points elsewhere); a failure's stays longer: it asks for a decision.
    """
    if not finished:
        return
    told = to_tell(session().page, finished, _open_grid())
    if told:
        ok = all(job.succeeded for job in told)
        st.toast(toast_text(told), icon=":material/check_circle:" if ok else ":material/error:",
                 duration="short" if ok else "long")
    if st.session_state.get(ALERTS):
        _alert(finished)


def _close_old_toasts(page: str, keep: list[Finished]) -> None:
    """On opening ``page``: close the toasts still showing from the last one, except those of ``keep`` (this
    run's own news; each toast links its job, ``?job=<id>``, which is how they are told apart).

    The script names the page and a fresh number: an element the front end already shows in that place runs no
    script again, so the same text on the next page change would do nothing.
    """
    ids = _js(json.dumps([job.id for job in keep]))
    _script(
        f"/* {_js(page)} {uuid.uuid4().hex} */ (() => {{ const keep = new Set(JSON.parse(" + ids + ").map(String));"
        " for (const toast of document.querySelectorAll('[data-testid=\"stToast\"]')) {"
        " const link = toast.querySelector('a[href*=\"job=\"]');"
        " const id = link && new URL(link.href, document.baseURI).searchParams.get('job');"
        " if (!keep.has(id)) toast.querySelector('button[aria-label=\"Close\"]')?.click(); } })();"
    )


def _watcher(log: TaskLog) -> None:
    """The fragment's body: one counter read while nothing changed; the tab's title follows the unseen count.

    News that makes a toast, a sound or a notification is told by a whole run of the page, which this starts:
    Streamlit 1.67 drops a toast a fragment sent when the page runs again soon after (the front end unmounts it with
    the run's stale elements; fixed upstream in streamlit#16498), and pages that follow the log (History, the
    Gallery) run again when a job ends. A toast sent by the whole run is part of it and stays.
    """
    state = _watch(log)
    before = len(state.unseen)
    finished = _look(state, log)
    if len(state.unseen) != before:
        st.set_page_config(page_title=title(len(state.unseen)))
    if to_tell(session().page, finished, _open_grid()) or (finished and st.session_state.get(ALERTS)):
        session().news.extend(finished)
        st.rerun()


def watch(studio: Studio, page: str) -> None:
    """Call once per app run from the main script, after access is granted; ``page`` is the open page's url_path.

    Marks what this page shows as seen, sets the tab's title, draws the sidebar toggle for sound and
    notifications, and starts the watcher that toasts this viewer's finished jobs on any page: woken when the log
    changes (``ui.live``); while the page cannot be told of changes, every ``REFRESH_SECONDS`` while the viewer has
    unfinished jobs, else every ``IDLE_REFRESH_SECONDS``.
    """
    moved = session().page != page
    session().page = page
    try:
        state: Watch | None = _watch(studio.log)
        finished = session().news + _look(state, studio.log)  # the watcher's news first: it started this run
        session().news = []
    except StorageError:  # the page says the log cannot be reached; watching starts on the first run after it is back
        state, finished = None, []
    if state is not None:
        state.seen(page, linked_job_id())
        if state.unseen:
            st.set_page_config(page_title=title(len(state.unseen)))
    with st.sidebar:
        st.toggle("Sound and notification when a job ends", key=ALERTS, on_change=_ask_next_run,
                  help="Off by default. Your browser asks once whether this app may show notifications.")
        if session().ask_permission:
            session().ask_permission = False
            _script("if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission();")
        if moved:
            _close_old_toasts(page, finished)
        _tell(finished)
        if state is not None:
            live_fragment(lambda: _watcher(studio.log), name="notices",
                          fallback=REFRESH_SECONDS if state.pending else IDLE_REFRESH_SECONDS)()
