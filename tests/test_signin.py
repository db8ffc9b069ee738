"""Sign-in with Streamlit's st.login through a real OpenID Connect provider on 127.0.0.1, in Chromium.

The provider is ``oidc-provider-mock`` in its own process; the app is the real server (``streamlit run app.py``)
with a secrets file whose ``[auth]`` section points at it. Also here: the toast and the tab's title when a
person's job ends while they are on another page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.people import person_id
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

from .browser_support import (
    OidcProvider,
    StreamlitServer,
    free_port,
    generate_button,
    let_everything_end,
    new_page,
    tasks_with,
    type_prompt,
)

pytestmark = pytest.mark.browser
ADA = {"sub": "ada-sub-1", "email": "Ada@Example.com", "email_verified": True, "name": "Ada Lovelace"}
# Verified, but not on the allow-list (ALLOWED_EMAIL_DOMAINS = example.com matches the whole domain, not a suffix).
EVE = {"sub": "eve-sub-1", "email": "eve@evil-example.com", "email_verified": True, "name": "Eve"}
# Long enough that a person can go to another page before the job ends.
# Jobs are held until a test lets them end (``let_everything_end``): what a page shows is then no race with the clock.
TIMING = Timing(image_queued=0.5, image_processing=3600, video_queued=0.5, video_processing=3600)
RESULT_TIMEOUT = 40_000


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    server = OidcProvider([ADA, EVE])
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request, base_url=app.url) as pg:
        yield pg


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING) as server:
        yield server


@pytest.fixture(scope="module")
def app(provider: OidcProvider, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    data_dir = tmp_path_factory.mktemp("data")
    port = free_port()
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text('ALLOWED_EMAIL_DOMAINS = ["example.com"]\n' + provider.auth_secrets(port))
    env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(data_dir)}
    server = StreamlitServer(env, secrets=secrets, port=port)
    server.data_dir = data_dir
    yield server
    server.stop()



@pytest.mark.timeout(1500)
def test_sign_in_works_from_an_install_of_requirements_txt_alone(
    browser: Browser, provider: OidcProvider, sandbox: Sandbox, requirements_python: Path,
    tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('ALLOWED_EMAIL_DOMAINS = ["example.com"]\n' + provider.auth_secrets(port))
    env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(tmp_path)}
    # The app's own environment, made from requirements.txt alone (tests/requirements_venv.py).
    # Its first start reads every module from a new folder: generous on a busy machine.
    server = StreamlitServer(env, secrets=secrets, port=port, python=requirements_python, start_timeout=300)
    try:
        with new_page(browser, request, base_url=server.url) as page:
            page.goto("/")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name=ADA["sub"]).click()  # the provider's one-click account
            expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Internal Server Error")).to_have_count(0)
            expect(page.get_by_role("heading", name="Imagine Studio")).to_be_visible()
    finally:
        server.stop()


def sign_in(page: Page) -> None:
    """Sign in as Ada through the provider's authorize page, back to the app."""
    page.goto("/")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=ADA["sub"]).click()  # the provider's one-click account
    expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible(timeout=30_000)


def test_a_page_opened_without_signing_in_shows_only_the_sign_in_prompt(page: Page) -> None:
    for path in ("/image", "/history", "/"):
        page.goto(path)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Sign in with your team account")).to_be_visible()
        expect(page.get_by_role("textbox", name="Prompt")).to_have_count(0)
        expect(page.get_by_role("button", name="Generate")).to_have_count(0)
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(page.get_by_text("Credit balance")).to_have_count(0)


def test_sign_in_names_the_person_and_their_job_is_attributed(
    page: Page, app: StreamlitServer, provider: OidcProvider, sandbox: Sandbox
) -> None:
    sign_in(page)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto("/image")
    expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible(timeout=30_000)  # a new tab is signed in too
    prompt = "A signed-in lighthouse"
    type_prompt(page, prompt)
    generate_button(page).click()
    assert tasks_with(sandbox, prompt, at_least=1)
    let_everything_end(sandbox)
    expect(page.locator(".st-key-results").get_by_test_id("stImage").first).to_be_visible(timeout=RESULT_TIMEOUT)
    (job,) = TaskLog(app.data_dir / "tasklog.sqlite3").where("prompt = ?", (prompt,))
    assert (job.person, job.person_name) == (person_id(provider.url, ADA["sub"]), "Ada Lovelace")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own sign-out page
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    page.goto("/image")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("textbox", name="Prompt")).to_have_count(0)


def test_an_account_outside_the_allow_list_sees_plain_words_and_sign_out_only(page: Page) -> None:
    page.goto("/image")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=EVE["sub"]).click()
    # The address is shown as text: an invisible word joiner after its @ keeps Markdown from making it a link.
    refusal = re.compile("is open to its team only, and eve@\u2060?evil-example\\.com is not on its list")
    expect(page.get_by_text(refusal)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button")).to_have_count(1)  # Sign out, and nothing else to press
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    for path in ("/history", "/gallery", "/"):
        page.goto(path)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Credit balance")).to_have_count(0)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own sign-out page
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)


def test_a_job_that_ends_on_another_page_brings_a_toast_and_counts_in_the_title(
    page: Page, app: StreamlitServer, sandbox: Sandbox
) -> None:
    page.context.grant_permissions(["notifications"])
    page.add_init_script("""
        window.shownNotifications = [];
        window.Notification = class { static permission = 'granted';
            static requestPermission() { return Promise.resolve('granted'); }
            constructor(title, options) { window.shownNotifications.push(title); } };
    """)
    sign_in(page)
    page.goto("/image")
    page.get_by_text("Sound and notification when a job ends").click()
    prompt = "A kettle that sings when done"
    type_prompt(page, prompt)
    generate_button(page).click()
    expect(page.get_by_text(re.compile("^(Queued|Generating|Sending)…"))).to_be_visible(timeout=10_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History & credits").click()
    expect(page).to_have_url(re.compile(r"/history$"))
    expect(page.get_by_role("heading", name="History & credits")).to_be_visible(timeout=30_000)
    assert tasks_with(sandbox, prompt, at_least=1)
    let_everything_end(sandbox)  # the job ends once History is open: its toast comes there
    toast = page.get_by_test_id("stToast").filter(has_text="Image is ready")
    expect(toast).to_be_visible(timeout=RESULT_TIMEOUT)
    (job,) = TaskLog(app.data_dir / "tasklog.sqlite3").where("prompt = ?", (prompt,))
    expect(toast.get_by_role("link", name="Open it")).to_have_attribute("href", re.compile(rf"\?job={job.id}$"))
    expect(page).to_have_title("(1) Imagine Studio")
    page.wait_for_function("() => window.shownNotifications.length === 1")
    assert page.evaluate("window.shownNotifications") == ["Image ready · Imagine Studio"]
    with page.context.expect_page() as opened:
        toast.get_by_role("link", name="Open it").click()
    large = opened.value  # the link opens the result's large view (in a new tab, signed in there too)
    expect(large.get_by_role("dialog").get_by_text(f"#{job.id}", exact=False).first).to_be_visible(timeout=30_000)
    large.close()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Gallery").click()
    expect(page).to_have_title("Imagine Studio")  # seen: the Gallery shows it

