"""The phase plane you can touch: :func:`explore` serves a page (Bokeh) with the phase plane of any
model, its direction field, nullclines and stationary points (hover: coordinates, eigenvalues,
type), a slider and a box for each scalar parameter (its symbol and declared range), trajectories
forward and backward from a click, zoom and pan, a progressive basin map, and an export that writes
the view as ``dynsim phase-portrait`` would (and shows that command).

:class:`Explorer` is the page's numerics without the page (see :mod:`._engine`); Bokeh is imported
only by :func:`explore` and :func:`serve`.
"""

from __future__ import annotations

from pathlib import Path

from dynsim.tools.explore._engine import Explorer, Trajectory, View, error_line

__all__ = ["Explorer", "Trajectory", "View", "error_line", "explore", "serve"]


def _factory(model, *, window=None, axes=None, at=None, params=None, model_spec=None, out="dynsim-out"):
    """A function building a fresh :class:`Explorer` per page (each browser tab its own state)."""
    from dynsim._core.loading import load_model, with_params
    from dynsim._core.system import AbstractSystem, from_function

    if isinstance(model, str):
        model_spec = model_spec or model
        model = load_model(model, params)
    elif not isinstance(model, AbstractSystem):
        model = from_function(model) if callable(model) else model
        model = with_params(model, params or {})
    else:
        model = with_params(model, params or {})
    first = Explorer(model, window=window, axes=axes, at=at, model_spec=model_spec, out=out)  # checks everything
    first.view()  # compiled once, before the first page asks
    plane, spec = first.plane, first.model_spec
    return lambda: Explorer(model, plane=plane, model_spec=spec, out=out)


def serve(model="eigen", *, window=None, axes=None, at=None, params: dict | None = None,
          model_spec: str | None = None, out: str | Path = "dynsim-out", port: int = 0):
    """Start the explorer's server on ``127.0.0.1:port`` (``0``: a free port) in a background thread
    and return it (``.url``, ``.stop()``, ``.wait()``). ``model``: an :class:`~dynsim.AbstractSystem`,
    a function ``f(t, y, *, a=...)`` or a ``--model`` spec (``"eigen"``, ``"FILE.py:NAME"``)."""
    from dynsim.tools.explore._page import ExplorerServer

    return ExplorerServer(_factory(model, window=window, axes=axes, at=at, params=params, model_spec=model_spec,
                                   out=out), port=port)


def explore(model="eigen", *, window=None, axes=None, at=None, params: dict | None = None,
            model_spec: str | None = None, out: str | Path = "dynsim-out", port: int = 0, browser: bool = True,
            notebook_url: str = "localhost:8888"):
    """Explore ``model`` interactively and return the running server (see :func:`serve`). In Jupyter
    the page shows in the cell (Bokeh's ``server_document`` of the server, which then also accepts
    the notebook's origin ``notebook_url``); elsewhere the browser opens on the server's URL unless
    ``browser=False``."""
    from dynsim.tools.explore._page import ExplorerServer, _in_notebook

    factory = _factory(model, window=window, axes=axes, at=at, params=params, model_spec=model_spec, out=out)
    if _in_notebook():
        from bokeh.embed import server_document
        from IPython.display import HTML, display

        server = ExplorerServer(factory, port=port, origins=(notebook_url,))
        display(HTML(server_document(server.url)))
        return server
    server = ExplorerServer(factory, port=port)
    if browser:
        import webbrowser

        webbrowser.open(server.url)
    return server
