"""The local pages: one HTML shell per page (``templates/page.html``) whose script polls the control API.

The pages hold no state of their own; ``static/pages.js`` fetches ``/api/*`` every two
seconds and renders the answers with DOM nodes (never as HTML), so what an operator sees is
exactly what the API says. The shells and their static files carry no data and need no
token; every ``/api`` and ``/images`` request does when one is configured (api.py).
"""

from __future__ import annotations

from flask import render_template

PAGES = {"/": "overview", "/detection": "detection", "/health": "health", "/websocket": "websocket"}

# Pages load only their own script and style: injected markup could run nothing.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def render_page(name: str) -> str:
    """The HTML for one page (``name`` is a value of :data:`PAGES`)."""
    return render_template("page.html", name=name, title=name.capitalize(), pages=PAGES)
