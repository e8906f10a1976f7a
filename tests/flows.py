"""What a person does in a browser, for the tests that drive a running server over HTTP.

`origin` picks the machine for each request: "" for the client's own, an origin, or a callable
that returns one per request, as a load balancer would.
"""

from collections.abc import Callable

import httpx

from tests.conftest import csrf_token_in, path_of

Origin = str | Callable[[], str]


def ask_for_a_link(browser: httpx.Client, address: str, origin: Origin = "", **kwargs):
    """Open the sign-in page and send the form; the answer to the form."""
    at = origin if callable(origin) else lambda: origin
    page = browser.get(f"{at()}/")
    return browser.post(
        f"{at()}/",
        data={"email": address, "csrfmiddlewaretoken": csrf_token_in(page.text)},
        **kwargs,
    )


def confirm_the_link(browser: httpx.Client, link: str, origin: Origin = "") -> httpx.Response:
    """Open the emailed link, then press Sign in on the confirm page; the answer to the press."""
    at = origin if callable(origin) else lambda: origin
    stashed = browser.get(at() + path_of(link))
    confirm_page = browser.get(at() + stashed.headers["Location"])
    return browser.post(
        f"{at()}/link/",
        data={
            "sesame": link.split("sesame=")[1],
            "csrfmiddlewaretoken": csrf_token_in(confirm_page.text),
        },
    )
