"""The emulator's HTML pages, driven over HTTP as a browser without JavaScript drives them.

The sign-in page has one <form method=post action="/{tenant}/login"> per user, each with the
hidden fields `flow` and `user` (the UPN) and, for users that have one, a `password` input. The
device-code page (`/devicelogin`) has one form with the field `otc`. Nothing here knows more
about the pages than a person reading them would: forms, their fields, their actions.
"""

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit


class Form:
    """One <form>: its action, method and fields (name -> value; typed fields are empty)."""

    def __init__(self, action, method):
        self.action = action
        self.method = method
        self.fields = {}
        self.hidden = {}

    def __repr__(self):
        return f"Form(action={self.action!r}, method={self.method!r}, fields={self.fields!r})"


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = Form(a.get("action", ""), (a.get("method") or "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            value = a.get("value") or ""
            self._current.fields[a["name"]] = value
            if (a.get("type") or "text").lower() == "hidden":
                self._current.hidden[a["name"]] = value

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms(html):
    """The forms of a page."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def _expect_page(response, what):
    if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
        raise AssertionError(
            f"{what}: expected an HTML page, got {response.status_code} "
            f"{response.headers.get('content-type')!r}: {response.text[:500]!r}"
        )


def sign_in(session, page, upn, password=None):
    """Submit the sign-in form of user `upn` on the sign-in page `page` (a requests response).

    Returns the answer to the POST, redirects not followed: a 302 to the redirect URI for an
    authorization request, the "You have signed in" page for a device code.
    """
    _expect_page(page, "sign-in page")
    candidates = [f for f in forms(page.text) if f.method == "post" and "user" in f.hidden]
    if not candidates:
        raise AssertionError(f"no sign-in form on the page: {page.text[:800]!r}")
    chosen = [f for f in candidates if f.hidden["user"].lower() == upn.lower()]
    if not chosen:
        offered = [f.hidden["user"] for f in candidates]
        raise AssertionError(f"no sign-in form for {upn}; the page offers {offered}")
    form = chosen[0]
    if "flow" not in form.hidden:
        raise AssertionError(f"the sign-in form has no hidden 'flow' field: {form}")
    data = dict(form.fields)
    if "password" in form.fields:
        if password is None:
            raise AssertionError(f"the form of {upn} asks for a password and none was given")
        data["password"] = password
    elif password is not None:
        raise AssertionError(f"the form of {upn} has no password field")
    return session.post(urljoin(page.url, form.action), data=data, allow_redirects=False)


def redirect_query(response, redirect_uri):
    """The query of a 302 to `redirect_uri`, as a dict (what MSAL calls the auth response)."""
    if response.status_code != 302:
        raise AssertionError(
            f"expected a 302 to {redirect_uri}, got {response.status_code}: {response.text[:800]!r}"
        )
    location = response.headers.get("location", "")
    parts = urlsplit(location)
    if f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/") != redirect_uri.rstrip("/"):
        raise AssertionError(f"redirected to {location!r}, not to {redirect_uri}")
    return dict(parse_qsl(parts.query, keep_blank_values=True))


def enter_device_code(session, verification_uri, user_code):
    """Open the device-code page, enter `user_code`; returns the sign-in page it leads to."""
    page = session.get(verification_uri)
    _expect_page(page, f"device-code page {verification_uri}")
    entry = [f for f in forms(page.text) if f.method == "post" and "otc" in f.fields]
    if not entry:
        raise AssertionError(f"no form with an 'otc' field at {verification_uri}: {page.text[:800]!r}")
    data = dict(entry[0].fields)
    data["otc"] = user_code
    answer = session.post(urljoin(page.url, entry[0].action), data=data)
    _expect_page(answer, "the page after entering the device code")
    return answer


def form_post_fields(response, redirect_uri):
    """The fields of a `response_mode=form_post` answer: a page whose form posts to
    `redirect_uri` (a browser submits it by script). Returns them as a dict."""
    _expect_page(response, "form_post answer")
    posting = [f for f in forms(response.text) if f.method == "post" and f.action == redirect_uri]
    if not posting:
        raise AssertionError(f"no form posting to {redirect_uri}: {response.text[:800]!r}")
    return dict(posting[0].hidden)
