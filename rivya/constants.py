"""Every tunable of the client, the follower and the sandbox, in one place."""

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
# While the SQLite log's last write failed as read-only or an I/O error, one process asks at most this often whether it
# can write again (a fresh connection, a no-op UPDATE rolled back: ``Database.check_writable``), however many pages ask.
WRITE_PROBE_SECONDS = 3.0

# Result media are fetched server-side with these limits.
MEDIA_MAX_BYTES = 200 * 1024 * 1024
# What one task may store in all, by model kind. Generous for one result (a 1536-pixel PNG is a few MB, a 30 s 720p
# video a few tens of MB) and bounded, so a reply listing many or huge files cannot fill the disk for a few credits.
MEDIA_TASK_MAX_BYTES = {"image": 50 * 1024 * 1024, "video": 200 * 1024 * 1024}
# Most pixels of an image the server decodes whole (a saved result shown or thumbnailed, a PNG or WebP reference):
# 4096 x 4096, at most 64 MB while decoded; results are 1024 or 1536 pixels on the long side (``sandbox.render.image_size``).
MAX_DECODED_PIXELS = 4096 * 4096
# The whole download of one result, however slowly the server sends it.
MEDIA_DEADLINE_SECONDS = 60.0
# Result downloads run on their own small pool, off the polling path. A failed download is tried MEDIA_ATTEMPTS times
# in all, waiting MEDIA_RETRY_DELAY, then twice as long each time, up to MEDIA_RETRY_MAX_DELAY.
MEDIA_WORKERS = 2
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

# Longest preset name, in characters: the form's box and ``presets`` refuse longer ones, and a name fits a select box.
PRESET_NAME_MAX_CHARS = 60

# Two presses of one form (Generate) or one card (Try again) this close together are one intent: a double click.
DOUBLE_CLICK_SECONDS = 2.0
