"""``nssisim explore``: the explorer in the browser (:mod:`nssisim.explore`), served on 127.0.0.1 only.

Bokeh and the simulator are imported inside the command, so that ``nssisim --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import _fail

EXPLORE_DEFAULT_PORT = 5006  # the same as nssisim.explore.server.DEFAULT_PORT (a test checks)


def explore(
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port on 127.0.0.1 (0: a free one, printed).")] = EXPLORE_DEFAULT_PORT,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the page in a browser (--no-browser: only print the address).")] = True,
) -> None:
    """Serve the explorer on localhost: pick a preset, traits, the environment and an intervention;
    see one adolescent's trajectory, its slow learning states, the regime reached and a cohort of 64.

    It listens on 127.0.0.1 only and prints its address; Ctrl-C stops it. A research instrument,
    not a clinical tool.
    """
    try:
        from ..explore.server import serve
    except ImportError as err:
        raise _fail(f"the explorer needs Bokeh: {err} (pip install 'bokeh>=3.4,<4')", 1) from None
    try:
        serve(port, open_browser=browser, log=lambda m: typer.echo(m))
    except OSError as err:
        raise _fail(f"--port {port}: cannot listen on 127.0.0.1:{port}: {err.strerror or err}", 1) from None
