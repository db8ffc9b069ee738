"""Every tunable of the studio's server side (``rivya/``), in one place.

A tunable is a time, size, limit, pool size or pace someone might change to trade speed, cost, safety or patience.
These stay with their module on purpose, as facts of it rather than settings:

- the API's contract (prices, prompt and parameter limits): ``rivya.catalog``; status words: ``rivya.status``;
- file signatures and suffixes: ``rivya.sniffing``; the named thumbnail sizes: ``rivya.thumbnails``;
- the schema's SQL, the calendar's bounds (``rivya.budgets``) and the advisory lock's number (``rivya.dialect``);
- one call's own defaults: a page, chunk or read size, a thread's join or wake-up wait, beside that call;
- what a deployment sets: ``rivya.config.Settings``, read from the environment;
- the sandbox's numbers: ``rivya.sandbox`` is a deliberately independent reading of the contract (only
  ``API_PREFIX`` is shared);
- the pages' own refresh paces and layout sizes, in ``ui/``.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://rivya.ai"
API_PREFIX = "/api/v1"

# Timeouts in seconds: (connect, read). Uploads get a longer read timeout because the
# server reads and sniffs up to 10 MB before answering.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
UPLOAD_READ_TIMEOUT = 120.0

DEFAULT_MAX_RETRIES = 2
RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 8.0
# Each retry waits between half and the whole of its back-off, so clients failing together spread out.
RETRY_JITTER = 0.5
# A server may ask for a long pause; an interactive app should not hang longer than this
# on one call, so longer Retry-After values surface as RateLimitedError instead.
RETRY_AFTER_CAP = 30.0
# No Retry-After value, however odd (inf, a date far ahead), pauses anything longer than this.
RETRY_AFTER_MAX = 300.0

# Polling guidance from the reference (section 4): first look 2-3 s after submit, then
# every 5-10 s, more slowly for long video jobs.
FIRST_POLL_DELAY = 2.5
# First looks are spread ±20 % around FIRST_POLL_DELAY (2-3 s), so jobs submitted together
# (a batch, a busy minute) do not all ask at the same instant and then stay bunched.
FIRST_POLL_SPREAD = 0.2
POLL_INTERVAL_IMAGE = 5.0
POLL_INTERVAL_VIDEO = 10.0
POLL_INTERVAL_MAX_IMAGE = 10.0
POLL_INTERVAL_MAX_VIDEO = 20.0
POLL_BACKOFF = 1.25
# Looks are placed near a job's expected finish (``Timetable._placed``): LOOK_MARGIN after it when the documented spacing
# allows, then at the shortest documented spacing until the job is LOOK_OVERDUE_FACTOR times its typical duration old.
LOOK_MARGIN = 0.5
LOOK_OVERDUE_FACTOR = 2.0
DEFAULT_WAIT_TIMEOUT = 600.0
# Typical seconds from submit to result per category, until the log has its own medians; a category not named here
# (a model kind added later) is taken to need EXPECTED_SECONDS_OTHER (``catalog.expected_seconds``).
EXPECTED_SECONDS = {"image": 10.0, "video": 30.0}
EXPECTED_SECONDS_OTHER = 20.0
# The request budget one process shares between its pages and its follower: it starts at
# REQUEST_RATE a second, halves on each 429 (never below the floor), and climbs back by
# REQUEST_RATE_STEP after each quiet REQUEST_RATE_RECOVER_SECONDS.
REQUEST_RATE = 200.0
REQUEST_BURST = 100
REQUEST_RATE_FLOOR = 0.5
REQUEST_RATE_STEP = 2.0
REQUEST_RATE_RECOVER_SECONDS = 5.0
# Most status requests in flight at once; one slow or hung request holds only its own worker.
# Threads start only as demand needs them (about rate × latency: 100 polls/s at 300 ms keep
# ~30 busy). The bound lets the whole REQUEST_RATE through up to ~600 ms of latency, so the
# budget, not the pool, is what binds.
POLL_WORKERS = 128
# The follower re-sends a create whose outcome is unknown with the same key, backing off 2, 4, 8 … s up to this: a
# lost reply is then confirmed within about this (plus one follower tick) of the service answering again, inside
# the 15 s the README promises.
RESEND_BASE_DELAY = 2.0
RESEND_MAX_DELAY = 10.0
# A row being sent by a live page is left alone this long before the follower sends it itself.
RESEND_GRACE = 2.0
# How often the follower thread wakes to look for due jobs.
FOLLOW_TICK = 0.25
# A status the reference does not list: look again slowly, and stop after an hour (History's "Check now" looks
# again); it is never treated as finished.
UNKNOWN_STATUS_INTERVAL = 60.0
UNKNOWN_STATUS_MAX_POLLS = 60
# Several replicas on one PostgreSQL log: a follower holds the jobs it claimed LEASE_SECONDS and renews them
# every LEASE_RENEW seconds, so the jobs of a replica that died go to another within about their sum.
LEASE_SECONDS = 15.0
LEASE_RENEW = 5.0
# Connections one process keeps to a PostgreSQL server (pages, follower workers, media): every replica opens up to
# DB_POOL_SIZE + DB_POOL_OVERFLOW, so three replicas stay well under the server's default of 100 connections.
DB_POOL_SIZE = 8
DB_POOL_OVERFLOW = 16
DB_POOL_TIMEOUT = 30.0
# How long a statement on the SQLite log waits for another connection's write to finish before it fails as busy.
SQLITE_BUSY_SECONDS = 30.0
# While the SQLite log's last write failed as read-only or an I/O error, one process asks at most this often whether it
# can write again (a fresh connection, a no-op UPDATE rolled back: ``Database.check_writable``), however many pages ask.
WRITE_PROBE_SECONDS = 3.0

# Result media are fetched server-side with these limits.
MEDIA_MAX_BYTES = 200 * 1024 * 1024
# What one task may store in all, by model kind. Generous for one result (a 1536-pixel PNG is a few MB, a 30 s 720p
# video a few tens of MB) and bounded, so a reply listing many or huge files cannot fill the disk for a few credits.
MEDIA_TASK_MAX_BYTES = {"image": 50 * 1024 * 1024, "video": 200 * 1024 * 1024}
# A reference image larger than this is refused as a likely decompression bomb; real photos are far smaller. A JPEG is
# checked and previewed at 1/8 scale (``draft``), so this is all it is held to; a PNG or WebP can only be decoded whole,
# so it is held to MAX_DECODED_PIXELS as well (a 142 KB PNG of 7000 x 7000 pixels decodes to 147 MB).
MAX_REFERENCE_PIXELS = 50_000_000
# Most pixels of an image the server decodes whole (a saved result shown or thumbnailed, a PNG or WebP reference):
# 4096 x 4096, at most 64 MB while decoded; results are 1024 or 1536 pixels on the long side (``sandbox.render.image_size``).
MAX_DECODED_PIXELS = 4096 * 4096
# The whole download of one result, however slowly the server sends it.
MEDIA_DEADLINE_SECONDS = 60.0
# Result downloads run on their own small pool, off the polling path. A failed download is tried MEDIA_ATTEMPTS times
# in all, waiting MEDIA_RETRY_DELAY, then twice as long each time, up to MEDIA_RETRY_MAX_DELAY.
MEDIA_WORKERS = 2
# Redirects one result download follows, each to an address checked again (``rivya.download``).
MEDIA_MAX_REDIRECTS = 5
MEDIA_ATTEMPTS = 3
MEDIA_RETRY_DELAY = 2.0
MEDIA_RETRY_MAX_DELAY = 8.0

# A message to a team chat when a long job ends (``rivya.notify``): tries per message, back-off (doubling from
# NOTIFY_BACKOFF up to NOTIFY_BACKOFF_MAX, or the chat's Retry-After), each request's timeout, and how many
# messages may wait before new ones are dropped.
NOTIFY_ATTEMPTS = 5
NOTIFY_BACKOFF = 2.0
NOTIFY_BACKOFF_MAX = 60.0
NOTIFY_TIMEOUT = 10.0
NOTIFY_QUEUE_SIZE = 1000
NOTIFY_PROMPT_CHARS = 200

MAX_CLIENT_REQUEST_ID = 128

# Sign-in with the shared password (``rivya.access``): after consecutive misses an attempt from one browser session or
# address waits 1, 2, 4 … s up to SIGNIN_MAX_DELAY; a miss made elsewhere (another session, another address) adds at
# most SIGNIN_GLOBAL_MAX_DELAY to anyone's attempt, so a fresh session with no recent misses never waits longer for
# someone else's guesses. Misses older than SIGNIN_FORGET_AFTER are forgotten.
SIGNIN_MAX_DELAY = 30.0
SIGNIN_GLOBAL_MAX_DELAY = 4.0
SIGNIN_FORGET_AFTER = 15 * 60.0

# The wallet's balance is shown on every run of every page: one fetched is reused this long (``Studio.balance``).
BALANCE_TTL = 10.0
# A process that found another following the jobs asks this often whether it may take over the follower.
STANDBY_RETRY = 5.0

# The job panel's pace (``rivya.panel``). The follower updates a job's row every few seconds at most, so refreshing
# every FAST_REFRESH_SECONDS pays off only when a job may finish any moment: from FAST_LEAD_SECONDS before its typical
# duration until OVERDUE_FACTOR times it (past that it has no expected finish left); otherwise SLOW_REFRESH_SECONDS.
# Once MEDIAN_FROM finished jobs are in view, their median duration replaces EXPECTED_SECONDS.
FAST_REFRESH_SECONDS = 1.0
SLOW_REFRESH_SECONDS = 4.0
FAST_LEAD_SECONDS = 3.0
OVERDUE_FACTOR = 3.0
MEDIAN_FROM = 3

# History's figures (``rivya.ledger``): computed results kept per filter (the newest this many), and spend on jobs
# submitted over a week ago, which hardly changes, kept this long (its totals read most of the log).
LEDGER_MEMO_SIZE = 64
OLDER_SPEND_SECONDS = 600.0
# Gallery tiles per page: three rows of five on a desktop (two of them above the fold), a first screen and a bit;
# every tile drawn costs the browser.
GALLERY_PAGE_SIZE = 15
# The Gallery counts matching results up to this many and says "1,000+" beyond: a bounded read at any log size.
GALLERY_COUNT_CAP = 1000
# The open Gallery looks at the log's change counter this often, and redraws when the results it shows changed.
GALLERY_LIVE_SECONDS = 2.5
# Tile picture addresses a process answers (``rivya.tile_route``): the newest made, about 600 pages of tiles, a few MB.
TILES_KEPT = 10_000
# Results Compare shows side by side: fewer compares nothing, more do not fit the dialog at one scale.
MIN_COMPARED, MAX_COMPARED = 2, 4
# Compare marks word differences only between prompts sharing at least this share of their words (difflib's ratio:
# 2 x shared / total). 0.5 keeps "a lighthouse at dawn" vs "a misty lighthouse at dusk" (0.67) and drops two
# prompts that share only "a" and "the" ("a cat on the sofa" vs "a dog in the park at night": 0.33).
RELATED_PROMPTS = 0.5
# A ZIP of results larger than this is refused before anything is built: Streamlit holds a built download in the
# server's memory until it is served.
MAX_ZIP_BYTES = 150 * 2**20
# Rows read at most for one list of recent prompts: a log of many identical prompts must not be read whole to fill it.
PROMPT_SCAN_LIMIT = 5000
# A prompt search word this long or longer also matches longer words it starts ("light" finds "lighthouse"); shorter
# words ("a", "4k") match whole words only, since a one- or two-letter prefix matches most of any log.
PREFIX_MIN_CHARS = 3
# Longest tag, in characters.
MAX_TAG_CHARS = 40
# A chain of results is short (an image and its clips); the walk up stops here even if rows were edited into a loop.
LINEAGE_MAX_DEPTH = 50

# Longest preset name, in characters: the form's box and ``presets`` refuse longer ones, and a name fits a select box.
PRESET_NAME_MAX_CHARS = 60

# Rivya webhooks as the wake-up (``rivya.webhooks``). An event is only a hint to poll a task now: its body is refused over
# WEBHOOK_MAX_BODY bytes; one task is woken at most once per WEBHOOK_TASK_WAKE_SECONDS and the whole process at most
# WEBHOOK_WAKES_PER_SECOND times a second (bursts of WEBHOOK_WAKE_BURST); a replica that does not hold the task asks
# the holder through the shared "check now" counter at most once per WEBHOOK_RECHECK_SECONDS, and a holder reads that
# counter every WEBHOOK_RECHECK_READ seconds while webhooks are on. The last WEBHOOK_SEEN_EVENTS event ids are
# remembered (a replay is answered, not acted on). A signature older or newer than WEBHOOK_TOLERANCE_SECONDS is refused.
WEBHOOK_MAX_BODY = 64 * 1024
# Longest event or task id read from an event; the service's are short, anything longer is not one of ours.
WEBHOOK_MAX_ID_CHARS = 200
WEBHOOK_TASK_WAKE_SECONDS = 5.0
WEBHOOK_WAKES_PER_SECOND = 20.0
WEBHOOK_WAKE_BURST = 50
WEBHOOK_RECHECK_SECONDS = 5.0
WEBHOOK_RECHECK_READ = 0.5
WEBHOOK_SEEN_EVENTS = 10_000
WEBHOOK_TOLERANCE_SECONDS = 300.0
# Deliveries are healthy for WEBHOOK_HEALTHY_SECONDS after a signed event (or the test event) arrived; while they are,
# the follower's looks relax to the safety cadence below (the first look included: the event is expected to come first).
# A finish found by a poll that no event announced ends the health at once: looks go back to the documented cadence.
WEBHOOK_HEALTHY_SECONDS = 600.0
WEBHOOK_SAFETY_INTERVAL = {"image": 30.0, "video": 60.0}
WEBHOOK_SAFETY_INTERVAL_OTHER = 45.0
# The route the app serves for Rivya's deliveries, appended to PUBLIC_URL when it registers its endpoint.
WEBHOOK_PATH = "/hooks/rivya"
WEBHOOK_NAME = "Imagine Studio"

# Two presses of one form (Generate) or one card (Try again) this close together are one intent: a double click.
DOUBLE_CLICK_SECONDS = 2.0

# Explore (``rivya.explore``): most jobs one grid makes (a grid is one press, checked and charged as a whole, and
# must fit one screen), most settings it varies beside the prompt's choices, and a prompt alternative's header length.
MAX_GRID_JOBS = 16
MAX_SETTING_AXES = 2
EXPLORE_LABEL_CHARS = 24
# Longest grid id a ``?grid=`` address may ask the log for: ids are a press's intent (``studio-<32 hex>``).
GRID_ID_CHARS = 200

# The push feed for open pages (``rivya.live_feed``): one reader per process looks at the log's change counter every
# LIVE_FEED_SECONDS while any tab waits (and at once when the process writes the log); a tab's wait is answered when
# the counter moves, or after LIVE_WAIT_SECONDS without a change (under the ~30 s after which proxies drop an idle
# request). At most LIVE_MAX_PASSES sessions hold a pass (the oldest go first), each with LIVE_WAITS_PER_PASS waits
# open at once (a tab needs one; a reload overlaps the old page's), and LIVE_MAX_WAITS in the whole process.
LIVE_FEED_SECONDS = 0.25
LIVE_WAIT_SECONDS = 25.0
LIVE_MAX_PASSES = 10_000
LIVE_MAX_PASS_CHARS = 100
LIVE_WAITS_PER_PASS = 3
LIVE_MAX_WAITS = 5_000
# The route open pages wait on (``rivya.live_route``).
LIVE_PATH = "/live/changes"
# Webhook health shared by replicas (``rivya.webhooks.WebhookHealth``): a replica that verifies a delivery stamps the
# log at most every WEBHOOK_HEALTH_WRITE_SECONDS, and each replica reads the stamp at most every
# WEBHOOK_HEALTH_READ_SECONDS (both far below WEBHOOK_HEALTHY_SECONDS).
WEBHOOK_HEALTH_WRITE_SECONDS = 10.0
WEBHOOK_HEALTH_READ_SECONDS = 2.0
# Typical seconds per model and time settings (``rivya.typical``): the follower reads the log's newest TYPICAL_SAMPLE
# succeeded jobs at most every TYPICAL_REFRESH_SECONDS, and takes the median of each kind's newest TYPICAL_PER_KIND
# (once MEDIAN_FROM of a kind have finished; before, the catalog's expected seconds).
TYPICAL_SAMPLE = 500
TYPICAL_PER_KIND = 20
TYPICAL_REFRESH_SECONDS = 60.0
