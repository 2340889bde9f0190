"""The explorer's page: a Bokeh document over an :class:`~dynsim.tools.explore._engine.Explorer`, and
the Bokeh server that serves it on the loopback address (or the cell that shows it in Jupyter).

Bokeh is imported here only: ``import dynsim`` and ``dynsim --help`` never import it.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import socket
import threading
import time
from collections.abc import Callable

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim.tools.explore._engine import BASIN_LEVELS, Explorer, error_line

_GREEK = {n: c for n, c in zip(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon "
    "phi chi psi omega".split(), "αβγδεζηθικλμνξοπρστυφχψω")}
_GREEK |= {n.capitalize(): c.upper() for n, c in _GREEK.items()}
MAX_TRAJECTORIES = 24


def _symbol(spec) -> str:
    """The declared mathtext symbol as plain text (``\\alpha_p`` -> ``α_p``), or the name."""
    if not spec.symbol:
        return spec.name
    out = spec.symbol
    for name in sorted(_GREEK, key=len, reverse=True):
        out = out.replace("\\" + name, _GREEK[name])
    return out.replace("{", "").replace("}", "").replace("\\", "").replace("$", "")


def _slider_range(spec, value: float) -> tuple[float, float]:
    """The slider's ends: the declared range where finite, else about a decade around the value."""
    span = max(10.0 * abs(value), 1.0)
    lo = spec.lower if math.isfinite(spec.lower) else min(value - span, -span if spec.upper > 0 else spec.upper - span)
    hi = spec.upper if math.isfinite(spec.upper) else max(value + span, lo + span)
    return float(lo), float(hi)


def _hex(colour) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


def _rgba_image(labels: np.ndarray, colours: list[str]) -> np.ndarray:
    """Basin labels -> a Bokeh RGBA image (uint32 per cell): each attractor's tint, not settled grey,
    failed black."""
    from matplotlib.colors import to_rgba

    from dynsim.plot.style import FAILED, NOT_SETTLED_CELL, tint

    table = {i: to_rgba(tint(c)) for i, c in enumerate(colours)} | {-1: to_rgba(NOT_SETTLED_CELL),
                                                                    -2: to_rgba(FAILED)}
    rgba = np.zeros((*labels.shape, 4), np.uint8)
    for lab, c in table.items():
        rgba[labels == lab] = (np.asarray(c) * 255).round().astype(np.uint8)
    rgba[..., 3] = 200
    return rgba.view(np.uint32)[..., 0]


class Page:
    """One browser page: its document, its explorer, its widgets and callbacks."""

    def __init__(self, doc, explorer: Explorer):
        from bokeh.events import RangesUpdate, Reset, Tap
        from bokeh.layouts import column, row
        from bokeh.models import (Arrow, Button, ColumnDataSource, Div, HoverTool, Range1d, Slider, TextInput, Toggle,
                                  VeeHead)
        from bokeh.plotting import figure

        from dynsim.plot.style import FIELD, NULL_P, NULL_S, NOT_SETTLED, STABLE, UNSTABLE, DEGENERATE

        self.doc, self.ex = doc, explorer
        self._syncing = False
        self._generation = 0  # bumped by every change of model or window: stale background work is dropped
        pl = explorer.plane
        names = explorer.model.state_names
        self.fig = figure(width=720, height=560, x_axis_type="log" if pl.x.log else "linear",
                          y_axis_type="log" if pl.y.log else "linear", x_range=Range1d(pl.x.lo, pl.x.hi),
                          y_range=Range1d(pl.y.lo, pl.y.hi), tools="pan,wheel_zoom,box_zoom,reset,save",
                          active_scroll="wheel_zoom", title=f"{type(explorer.model).__name__}: click to launch a "
                                                            "trajectory forward and backward", name="plane")
        self.fig.xaxis.axis_label, self.fig.yaxis.axis_label = names[pl.axes[0]], names[pl.axes[1]]
        self.basin_src = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="basins")
        self.fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.basin_src, level="underlay")
        self.arrow_src = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []}, name="field")
        self.fig.add_layout(Arrow(end=VeeHead(size=5, line_color=_hex(FIELD), fill_color=_hex(FIELD)),
                                  x_start="x0", y_start="y0", x_end="x1", y_end="y1", source=self.arrow_src,
                                  line_color=_hex(FIELD), line_width=1.2))
        self.null_src = [ColumnDataSource({"xs": [], "ys": []}, name=f"nullcline_{k}") for k in range(2)]
        for k, (src, colour, dash) in enumerate(zip(self.null_src, (NULL_P, NULL_S), ("solid", "dotted"))):
            self.fig.multi_line("xs", "ys", source=src, line_color=_hex(colour), line_width=2, line_dash=dash,
                                legend_label=f"d{names[pl.axes[k]]}/dt = 0")
        self.fwd_src = ColumnDataSource({"xs": [], "ys": [], "color": [], "fate": []}, name="forward")
        self.bwd_src = ColumnDataSource({"xs": [], "ys": [], "color": [], "fate": []}, name="backward")
        self.start_src = ColumnDataSource({"x": [], "y": [], "color": []}, name="starts")
        self.fig.multi_line("xs", "ys", source=self.fwd_src, line_color="color", line_width=1.8)
        self.fig.multi_line("xs", "ys", source=self.bwd_src, line_color="color", line_width=1.2, line_dash="dashed",
                            line_alpha=0.8)
        self.fig.scatter("x", "y", source=self.start_src, color="color", size=5)
        self.fp_src = ColumnDataSource({"x": [], "y": [], "state": [], "eigenvalues": [], "stability": [],
                                        "marker": [], "fill": [], "line": []}, name="fixed_points")
        fp = self.fig.scatter("x", "y", source=self.fp_src, marker="marker", fill_color="fill", line_color="line",
                              size=11, line_width=2)
        self.fig.add_tools(HoverTool(renderers=[fp], tooltips=[("state", "@state"), ("eigenvalues", "@eigenvalues"),
                                                              ("type", "@stability")]))
        self.fig.legend.location, self.fig.legend.background_fill_alpha = "top_right", 0.7
        self._kinds = {"stable": ("circle", _hex(STABLE), "#000000"), "unstable": ("circle", "#ffffff", _hex(UNSTABLE)),
                       "saddle": ("x", "#ffffff", _hex(UNSTABLE)), "degenerate": ("diamond", "#ffffff", _hex(DEGENERATE))}
        self._not_settled = _hex(NOT_SETTLED)

        self.sliders, self.boxes = {}, {}
        controls = [Div(text=f"<b>{type(explorer.model).__name__}</b> ({explorer.model_spec}): "
                             f"state {', '.join(names)}", name="title")]
        for spec in explorer.specs:
            v = explorer.value(spec.name)
            lo, hi = _slider_range(spec, v)
            label = f"{_symbol(spec)} ({spec.name}) in {spec.range_text()}"
            s = Slider(start=lo, end=hi, value=min(max(v, lo), hi), step=(hi - lo) / 1000, title=label,
                       format="0[.]0000", width=210, name=f"slider-{spec.name}")
            b = TextInput(value=repr(v), width=100, name=f"box-{spec.name}", description=spec.help or None)
            s.on_change("value", functools.partial(self._on_slider, spec.name))
            b.on_change("value", functools.partial(self._on_box, spec.name))
            self.sliders[spec.name], self.boxes[spec.name] = s, b
            controls.append(row(s, b))
        self.status = Div(text="", width=320, name="status", styles={"color": "#444444"})
        self.error = Div(text="", width=320, name="error", styles={"color": "#C8102E", "font-weight": "bold"})
        self.fate = Div(text="", width=320, name="fate")
        self.basin_toggle = Toggle(label="basin map of the view", active=False, width=300, name="basins-toggle")
        self.basin_toggle.on_change("active", lambda attr, old, new: self._guard(self._basins_changed))
        clear = Button(label="clear trajectories", width=300, name="clear")
        clear.on_event("button_click", lambda event: self._guard(self._clear))
        export = Button(label="Export (figure + .npz + .json)", button_type="primary", width=300, name="export")
        export.on_event("button_click", lambda event: self._guard(self._export))
        self.command = Div(text="", width=320, name="command", styles={"font-family": "monospace", "font-size": "11px",
                                                                        "word-break": "break-all"})
        controls += [self.basin_toggle, clear, export, self.command, self.error, self.fate, self.status]
        self.fig.on_event(Tap, lambda event: self._guard(self._tap, event.x, event.y))
        self.fig.on_event(RangesUpdate, lambda event: self._guard(self._ranges, event.x0, event.x1, event.y0, event.y1))
        self.fig.on_event(Reset, lambda event: self._guard(self._reset))
        doc.add_root(row(self.fig, column(*controls)))
        doc.title = f"dynsim explore: {type(explorer.model).__name__}"
        self.redraw()

    # -- every callback goes through here: an error is one line on the page, never a dead server --

    def _guard(self, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except DynsimInputError as e:
            self.error.text = error_line(e)
        except Exception as e:  # noqa: BLE001 - the page says what failed; the server carries on
            self.error.text = f"dynsim: internal error: {type(e).__name__}: {e}".splitlines()[0]

    def _on_slider(self, name, attr, old, new):
        if self._syncing:
            return
        self._guard(self._set, name, float(new), from_box=False)

    def _on_box(self, name, attr, old, new):
        if self._syncing:
            return
        self._guard(self._set, name, new, from_box=True)

    def _set(self, name, value, *, from_box: bool):
        self.ex.set_param(name, value)  # raises DynsimInputError on bad input: shown, nothing changes
        v = self.ex.value(name)
        self._syncing = True
        try:
            s = self.sliders[name]
            if from_box:
                if not s.start <= v <= s.end:  # a valid value outside the slider: widen it
                    s.start, s.end = min(s.start, v), max(s.end, v)
                    s.step = (s.end - s.start) / 1000
                s.value = v
            else:
                self.boxes[name].value = repr(v)
        finally:
            self._syncing = False
        self.error.text = ""
        self.redraw()

    def _ranges(self, x0, x1, y0, y1):
        if None in (x0, x1, y0, y1):
            return
        pl = self.ex.plane
        if (x0, x1, y0, y1) == (pl.x.lo, pl.x.hi, pl.y.lo, pl.y.hi):
            return
        self.ex.set_window((x0, x1), (y0, y1))
        self.redraw()

    def _reset(self):
        home = self.ex.home
        self.ex.set_window((home.x.lo, home.x.hi), (home.y.lo, home.y.hi))
        self.fig.x_range.start, self.fig.x_range.end = home.x.lo, home.x.hi
        self.fig.y_range.start, self.fig.y_range.end = home.y.lo, home.y.hi
        self.redraw()

    # -- drawing ---------------------------------------------------------------------------------

    def redraw(self) -> float:
        """Recompute the view and replace the glyphs' data; returns the seconds it took."""
        start = time.perf_counter()
        self._generation += 1
        view = self.ex.view()
        a = view.arrows
        self.arrow_src.data = {"x0": a["x0"], "y0": a["y0"], "x1": a["x1"], "y1": a["y1"]}
        for src, lines in zip(self.null_src, view.nullclines):
            src.data = {"xs": [ln[:, 0] for ln in lines], "ys": [ln[:, 1] for ln in lines]}
        table = view.points_table(self.ex.model.state_names)
        kinds = [self._kinds[k] for k in map(_kind, table["stability"])]
        self.fp_src.data = {**table, "marker": [k[0] for k in kinds], "fill": [k[1] for k in kinds],
                            "line": [k[2] for k in kinds]}
        self._view = view
        if self.fwd_src.data["xs"]:  # the trajectories belonged to the old parameters
            self._clear()
        if self.basin_src.data["image"]:  # the map belonged to the old parameters or window
            self.basin_src.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
        if self.basin_toggle.active:
            self._start_basins()
        seconds = time.perf_counter() - start
        self.status.text = (f"redraw {1e3 * seconds:.0f} ms (computation {1e3 * view.seconds:.0f} ms); "
                            f"{int(view.shown.sum())} stationary point(s) in view")
        return seconds

    def _attractor_colours(self) -> dict[int, str]:
        from dynsim.plot.style import attractor_colours

        fp = self._view.fixed_points
        idx = np.flatnonzero(fp.stable & fp.isolated)
        return {int(i): c for i, c in zip(idx, attractor_colours(fp.points[idx]))}

    def _tap(self, x, y):
        tr = self.ex.trajectory(float(x), float(y))
        colour = self._attractor_colours().get(tr.attractor, self._not_settled)
        a0, a1 = self.ex.plane.axes
        keep = -(MAX_TRAJECTORIES - 1)
        for src, ys, text in ((self.fwd_src, tr.forward, tr.fate), (self.bwd_src, tr.backward, tr.origin)):
            d = src.data
            src.data = {"xs": [*d["xs"][keep:], ys[:, a0]], "ys": [*d["ys"][keep:], ys[:, a1]],
                        "color": [*d["color"][keep:], colour], "fate": [*d["fate"][keep:], text]}
        d = self.start_src.data
        self.start_src.data = {"x": [*d["x"][keep:], float(x)], "y": [*d["y"][keep:], float(y)],
                               "color": [*d["color"][keep:], colour]}
        self.fate.text = f"from ({float(x):.4g}, {float(y):.4g}): forward {tr.fate}; backward {tr.origin}"
        self.error.text = ""

    def _clear(self):
        for src in (self.fwd_src, self.bwd_src):
            src.data = {"xs": [], "ys": [], "color": [], "fate": []}
        self.start_src.data = {"x": [], "y": [], "color": []}
        self.fate.text = ""

    # -- background work: basins (coarse first) and export ----------------------------------------

    def _basins_changed(self):
        if self.basin_toggle.active:
            self._start_basins()
        else:
            self._generation += 1
            self.basin_src.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}

    def _start_basins(self):
        from dynsim.plot.style import attractor_colours

        gen, snap = self._generation, copy.copy(self.ex)
        pl = snap.plane

        def work():
            for grid in BASIN_LEVELS:
                if gen != self._generation:
                    return
                try:
                    labels, points = snap.basins(grid)
                except Exception as e:  # noqa: BLE001 - shown on the page; the thread ends
                    msg = error_line(e) if isinstance(e, DynsimInputError) else f"dynsim: basin map failed: {e}"
                    self.doc.add_next_tick_callback(functools.partial(self._show_error, msg))
                    return
                image = _rgba_image(labels, attractor_colours(points))
                data = {"image": [image], "x": [pl.x.lo], "y": [pl.y.lo], "dw": [pl.x.width], "dh": [pl.y.width]}
                self.doc.add_next_tick_callback(functools.partial(self._show_basins, gen, data, grid))

        threading.Thread(target=work, daemon=True, name="dynsim-basins").start()

    def _show_basins(self, gen, data, grid):
        if gen == self._generation and self.basin_toggle.active:
            self.basin_src.data = data
            self.basin_toggle.label = f"basin map of the view ({grid} x {grid})"

    def _show_error(self, msg):
        self.error.text = msg

    def _export(self):
        snap = copy.copy(self.ex)
        command = snap.command()
        self.command.text = f"exporting ...<br>{command}"

        def work():
            try:
                paths = snap.export()
                text = ("wrote " + ", ".join(str(p) for p in paths.values()) + "<br>the same figure: <code>"
                        + command + "</code>")
            except Exception as e:  # noqa: BLE001
                text = error_line(e) if isinstance(e, DynsimInputError) else f"dynsim: export failed: {e}"
            self.doc.add_next_tick_callback(functools.partial(setattr, self.command, "text", text))

        threading.Thread(target=work, daemon=True, name="dynsim-export").start()


def _kind(stability: str) -> str:
    if stability.startswith("stable"):
        return "stable"
    return stability if stability in ("saddle", "degenerate") else ("degenerate" if stability == "non-isolated"
                                                                   else "unstable")


def application(factory: Callable[[], Explorer]):
    """The Bokeh application: a fresh :class:`Explorer` from ``factory`` and its page per session."""
    from bokeh.application import Application
    from bokeh.application.handlers import FunctionHandler

    return Application(FunctionHandler(lambda doc: Page(doc, factory())))


class ExplorerServer:
    """A running explorer: a Bokeh server on ``127.0.0.1:port`` in a background thread (its own
    event loop), accepting websocket connections only from its own page's origin."""

    def __init__(self, factory: Callable[[], Explorer], port: int = 0, origins: tuple[str, ...] = ()):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise DynsimInputError("port", f"port must be an integer in [0, 65535] (got {port!r})")
        self.port = port or _free_port()
        self._origins = [f"127.0.0.1:{self.port}", *origins]  # its own page (and a notebook's, in Jupyter)
        self._ready, self._error = threading.Event(), None
        self._thread = threading.Thread(target=self._run, args=(factory,), daemon=True, name="dynsim-explore")
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _run(self, factory):
        from bokeh.server.server import Server
        from tornado.ioloop import IOLoop

        asyncio.set_event_loop(asyncio.new_event_loop())
        self._loop = IOLoop.current()
        try:
            self._server = Server({"/": application(factory)}, io_loop=self._loop, address="127.0.0.1",
                                  port=self.port, allow_websocket_origin=self._origins)
            self._server.start()
        except OSError as e:
            self._error = DynsimInputError("port", f"cannot listen on 127.0.0.1:{self.port} ({e.strerror or e}); "
                                                   "choose another --port (0: any free one)")
            self._ready.set()
            return
        self._ready.set()
        self._loop.start()
        self._loop.close(all_fds=True)

    def stop(self) -> None:
        """Stop the server and its thread."""
        def halt():
            self._server.stop()
            self._loop.stop()

        if self._thread.is_alive():
            self._loop.add_callback(halt)
            self._thread.join(10)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
