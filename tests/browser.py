"""Headless Chromium driven by Playwright, with every non-local request blocked and logged."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_CHROMIUM, GOOGLE_CHROME = "/usr/bin/chromium", "/usr/bin/google-chrome"


def chromium_executable(playwright) -> str | None:
    """Which browser to drive: ``KB_CHROMIUM``; else Debian's Chromium (``make browser`` installs it
    where Playwright's download host is out of reach); else Playwright's own (``playwright install
    --with-deps chromium``, as CI does on GitHub's runners; None); else the Google Chrome those
    runners ship."""
    if os.environ.get("KB_CHROMIUM"):
        return os.environ["KB_CHROMIUM"]
    if os.path.exists(DEBIAN_CHROMIUM):
        return DEBIAN_CHROMIUM
    if os.path.exists(playwright.chromium.executable_path) or not os.path.exists(GOOGLE_CHROME):
        return None
    return GOOGLE_CHROME
# Every request but loopback goes to a proxy that is not there, so nothing leaves the machine, and
# the requests are watched rather than intercepted: Playwright turns the HTTP cache off in a
# context with routes, and the round trip of every request through the driver made each page
# visit half as slow again.
NOWHERE = "http://127.0.0.1:9"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(handler):
    """An HTTP server for ``handler`` on a free loopback port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_directory(directory: Path):
    """A static file server for ``directory`` (``serve``)."""
    return serve(functools.partial(_QuietHandler, directory=str(directory)))


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def clear(self):
        for v in vars(self).values():
            v.clear()


class Chromium:
    """One Playwright driver and one browser per test module; each ``page(base_url)`` gets a context
    of its own (nothing shared: cookies, storage and cache start empty), which starts in a third of
    the time a browser does."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browsers = {}

    def close(self):
        for browser in self._browsers.values():
            browser.close()
        self._pw.stop()

    def _browser(self, args: tuple[str, ...]):
        if args not in self._browsers:
            self._browsers[args] = self._pw.chromium.launch(
                executable_path=chromium_executable(self._pw), headless=True,
                args=[*CHROMIUM_ARGS, f"--proxy-server={NOWHERE}", *args])
        return self._browsers[args]

    @contextmanager
    def page(self, base_url: str, args: tuple[str, ...] = ()):
        """Yields (page, log): a page whose requests may only go to ``base_url``: others are logged, and
        fail unless they are to loopback. ``args``: more Chromium switches (a browser of their own)."""
        log = PageLog()
        ctx = self._browser(tuple(args)).new_context(viewport={"width": 1280, "height": 900})

        def watch(request):
            if not request.url.startswith((base_url + "/", "data:")):
                log.external_requests.append(request.url)

        def on_dialog(d):
            log.dialogs.append(d.message)
            d.dismiss()

        ctx.on("request", watch)
        try:
            page = ctx.new_page()
            page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: log.page_errors.append(str(e)))
            # ERR_ABORTED: the browser cancelled the request itself (the next navigation began while a
            # page's favicon was still loading), which is no failure of the site.
            page.on("requestfailed", lambda r: log.failed_requests.append(f"{r.url} ({r.failure})")
                    if r.failure != "net::ERR_ABORTED" else None)
            page.on("response", lambda r: log.failed_requests.append(f"{r.url} (HTTP {r.status})")
                    if r.status >= 400 else None)
            page.on("dialog", on_dialog)
            yield page, log
        finally:
            ctx.close()
