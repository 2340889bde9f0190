"""`dynsim explore`: the page driven in a real headless browser (Debian's Chromium + ChromeDriver through
Selenium), checked against the eigen system's closed forms; the export against `dynsim rerun`."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import dynsim
from dynsim.tools.explore import Explorer, serve

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1100,700")
M = "const m = n => Bokeh.documents[0].get_model_by_name(n);"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = tmp_path_factory.mktemp("explore-out")
    server = serve("eigen", port=0, out=out)
    opts = webdriver.ChromeOptions()
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="dynsim-chromium-"))
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    driver.get(server.url)
    page = Page(driver, server, out)
    page.wait("try { return m('fixed_points').data.x.length > 0 } catch (e) { return false }")
    yield page
    driver.quit()
    server.stop()


class Page:
    def __init__(self, driver, server, out):
        self.driver, self.server, self.out = driver, server, out

    def js(self, code, *args):
        return self.driver.execute_script(M + code, *args)

    def wait(self, cond, timeout=60.0):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            value = self.js(cond)
            if value:
                return value
            time.sleep(0.03)
        raise AssertionError(f"timed out waiting for: {cond}")

    def set_and_wait(self, name, value, box=False):
        """Move a slider (or type into a box) and wait for the stationary points to be redrawn."""
        self.js("window.redrawn = false; const s = m('fixed_points');"
                "if (!window.hooked) { s.change.connect(() => { window.redrawn = true; }); window.hooked = true; }")
        widget = f"box-{name}" if box else f"slider-{name}"
        value = str(value) if box else float(value)
        if self.js(f"return m('{widget}').value") == value:
            return self.points()  # already there: no change, no redraw (an error shown stays until a change)
        self.js(f"m('{widget}').value = arguments[0];", value)
        self.wait("return window.redrawn")
        return self.points()

    def points(self):
        d = self.js("const d = m('fixed_points').data; return [Array.from(d.x), Array.from(d.y), d.stability];")
        order = np.argsort(d[0])
        return np.array(d[0])[order], np.array(d[1])[order], [d[2][i] for i in order]

    def click(self, x, y):
        from selenium.webdriver.common.action_chains import ActionChains

        sx, sy = self.js("const v = Bokeh.index.find_one(m('plane')); const r = v.canvas_view.el.getBoundingClientRect();"
                         "return [r.left + v.frame.x_scale.compute(arguments[0]),"
                         " r.top + v.frame.y_scale.compute(arguments[1])];", x, y)
        ActionChains(self.driver).move_by_offset(sx, sy).click().move_by_offset(-sx, -sy).perform()


def _closed_form(eta, sigma, tau=1.0, alpha=1.0):
    pm, pp = (float(v) for v in dynsim.nontrivial_roots(eta, sigma, tau))
    return np.array([0.0, pm, pp]), np.array([0.0, pm * pm / alpha, pp * pp / alpha])


def test_parameters_move_the_stationary_points_to_the_closed_form(page):
    page.set_and_wait("sigma", 1.0)
    for eta in (0.01, 0.05):  # a slider move
        x, y, kind = page.set_and_wait("eta", eta)
        px, py = _closed_form(eta, 1.0)
        np.testing.assert_allclose(x, px, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(y, py, rtol=1e-9, atol=1e-12)
        assert kind == ["stable node", "saddle", "stable node"]
        assert page.js("return m('box-eta').value") == repr(eta)  # the box follows the slider
    x, y, kind = page.set_and_wait("sigma", "0.5", box=True)  # typed into a box
    px, _ = _closed_form(0.05, 0.5)
    np.testing.assert_allclose(x, px, rtol=1e-9, atol=1e-12)
    eta_c = float(dynsim.critical_eta(0.5, 1.0))
    x, _, kind = page.set_and_wait("eta", 1.2 * eta_c, box=True)  # above eta_c only collapse remains
    assert list(x) == [0.0] and kind == ["stable node"]
    assert "stationary point(s) in view" in page.js("return m('status').text")


def test_a_click_launches_the_trajectory_forward_and_backward(page):
    page.set_and_wait("sigma", 1.0)
    page.set_and_wait("eta", 0.01)
    page.js("Bokeh.index.find_one(m('clear')).click()")
    page.wait("return m('forward').data.xs.length == 0")
    page.click(0.3, 0.4)
    page.wait("return m('forward').data.xs.length == 1 && m('backward').data.xs.length == 1")
    fx, fy = (np.array(v) for v in page.js("const d = m('forward').data; return [Array.from(d.xs[0]), Array.from(d.ys[0])]"))
    bx, by = (np.array(v) for v in page.js("const d = m('backward').data; return [Array.from(d.xs[0]), Array.from(d.ys[0])]"))
    # both start at the clicked state (to a pixel), the forward one ends at p*_+ (the closed form)
    for x, y in ((fx, fy), (bx, by)):
        assert abs(x[0] - 0.3) < 0.01 and abs(y[0] - 0.4) < 0.01
    px, py = _closed_form(0.01, 1.0)
    np.testing.assert_allclose([fx[-1], fy[-1]], [px[2], py[2]], rtol=1e-3)
    # the invariant c = s - p^2/alpha_p decays (c(t) = c(0) e^{-2 eta t}): monotone to 0 forward, growing backward
    cf, cb = fy - fx**2, by - bx**2
    assert np.all(np.diff(cf) <= 1e-9) and abs(cf[-1]) < 1e-3 * abs(cf[0])
    assert np.all(np.diff(cb) >= -1e-9)
    assert "forward to the stable node" in page.js("return m('fate').text")
    from dynsim.plot.style import NONTRIVIAL

    assert page.js("return m('forward').data.color[0]") == NONTRIVIAL


def test_zoom_recomputes_the_view_of_the_new_window(page):
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.action_chains import ActionChains

    page.set_and_wait("eta", 0.05)
    before = page.js("const r = m('plane').x_range; return [r.start, r.end]")
    sx, sy = page.js("const v = Bokeh.index.find_one(m('plane')); const r = v.canvas_view.el.getBoundingClientRect();"
                     "return [r.left + v.frame.x_scale.compute(0.45), r.top + v.frame.y_scale.compute(0.2)];")
    page.js("window.redrawn = false;")
    ActionChains(page.driver).scroll_from_origin(ScrollOrigin.from_viewport(int(sx), int(sy)), 0, -300).perform()
    page.wait("return window.redrawn")  # the wheel zoom's RangesUpdate reached the server, which redrew
    # one scroll may be several wheel events, each a RangesUpdate answered in turn (on a loaded machine
    # the first answer comes before the last update): wait until the field drawn is that of the range shown
    page.wait("const r = m('plane').x_range, x = m('field').data.x0, pad = 0.02 * (r.end - r.start);"
              "const lo = Math.min(...x), hi = Math.max(...x);"
              "return Math.abs(lo - r.start) <= pad && Math.abs(hi - r.end) <= pad && m('fixed_points').data.x.length > 0")
    x0, x1 = page.js("const r = m('plane').x_range; return [r.start, r.end]")
    assert before[0] < x0 < x1 < before[1]
    arrows = np.array(page.js("return Array.from(m('field').data.x0)"))
    pad = 0.02 * (x1 - x0)  # an arrow is centred on its grid point: half its length may cross the edge
    assert x0 - pad <= arrows.min() < x0 + pad and x1 - pad < arrows.max() <= x1 + pad  # the new window's field
    x, _, kind = page.points()
    np.testing.assert_allclose(x, _closed_form(0.05, 1.0)[0][2:], rtol=1e-9)  # p*_+ alone is in the zoomed view
    page.js("Bokeh.index.find_one(m('plane')).reset_range()")  # as the reset tool: back to the home window


def test_bad_values_get_the_cli_message_and_the_server_survives(page, capsys):
    import cli

    page.set_and_wait("sigma", 1.0)
    for name, bad in (("eta", "-1"), ("sigma", "abc"), ("alpha_p", "0")):
        assert cli.main(["phase-portrait", "--model", "eigen", "--param", f"{name}={bad}"]) == 2
        expected = capsys.readouterr().err.strip()
        page.js(f"m('box-{name}').value = arguments[0];", bad)
        # the previous value's message is still shown until the server answers this one: wait for this one
        try:
            page.wait(f"return m('error').text === {json.dumps(expected)}")
        except AssertionError:
            pass
        got = page.js("return m('error').text")
        assert got == expected and "\n" not in got
    # nothing changed, and the server answers: a valid value redraws and clears the message
    x, _, _ = page.set_and_wait("eta", "0.02", box=True)
    np.testing.assert_allclose(x, _closed_form(0.02, 1.0)[0], rtol=1e-9)
    assert page.js("return m('error').text") == ""
    with urllib.request.urlopen(page.server.url, timeout=30) as r:  # a new page still loads
        assert r.status == 200


def test_export_writes_the_view_and_the_command_that_reproduces_it(page, tmp_path):
    import cli

    page.set_and_wait("sigma", 1.0)
    page.set_and_wait("eta", 0.004)
    dynsim.enable_compilation_cache()  # as `dynsim` does: the rerun below reuses the export's compilations
    page.js("Bokeh.index.find_one(m('export')).click()")
    text = page.wait("return m('command').text.includes('wrote') && m('command').text", timeout=120)
    files = sorted(p.name for p in Path(page.out).iterdir())
    assert files == ["phase_portrait.json", "phase_portrait.npz", "phase_portrait.png"]
    record = json.loads((Path(page.out) / "phase_portrait.json").read_text())
    assert record["command"] == "phase-portrait" and record["shell_command"] in text.replace("&amp;", "&")
    assert "--param eta=0.004" in record["shell_command"]
    assert set(record["timing_s"]) == {"job", "figure", "write"}  # as every command's record
    # the command shown makes the same arrays (dynsim rerun: bitwise) and the same figure bytes
    assert cli.main(["rerun", str(Path(page.out) / "phase_portrait.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "phase_portrait.png").read_bytes() == (Path(page.out) / "phase_portrait.png").read_bytes()


def test_the_server_listens_on_loopback_and_accepts_only_its_own_page(page):
    import re

    import websocket  # websocket-client, a dependency of selenium

    assert page.server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(page.server.url, timeout=30) as r:
        token = re.search(r'"token":"([^"]+)"', r.read().decode()).group(1)
    ws = page.server.url.replace("http", "ws") + "ws"
    own = websocket.create_connection(ws, origin=page.server.url.rstrip("/"), subprotocols=["bokeh", token], timeout=10)
    own.close()
    for origin in ("http://evil.example", f"http://localhost:{page.server.port}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(ws, origin=origin, subprotocols=["bokeh", token], timeout=10)
        assert e.value.status_code == 403


def test_a_user_model_with_known_fixed_points():
    """x' = mu x - x^3, y' = -y: (0, 0) and (+-sqrt(mu), 0) for mu > 0; the origin alone for mu < 0."""
    import jax.numpy as jnp

    def pitchfork(t, y, *, mu=1.0):
        return jnp.stack([mu * y[0] - y[0] ** 3, -y[1]])

    model = dynsim.from_function(pitchfork, state_names=("x", "y"), ranges={"mu": (-2.0, 2.0)})
    from dynsim._core import aot

    ex = Explorer(model, window=[(-2.0, 2.0), (-1.0, 1.0)])
    runners = lambda: {k for k in aot._RUNNERS if k[0] == "explore-view"}  # noqa: E731
    before = runners()
    ex.view()
    compiled = runners() - before
    assert len(compiled) == 1
    for mu in (0.49, 1.44, -0.5):
        ex.set_param("mu", mu)
        table = ex.view().points_table(model.state_names)
        x = np.sort(table["x"])
        want = [0.0] if mu < 0 else [-np.sqrt(mu), 0.0, np.sqrt(mu)]
        np.testing.assert_allclose(x, want, atol=1e-12)
        assert sorted(table["stability"]) == (["stable node"] if mu < 0 else ["saddle", "stable node", "stable node"])
    with pytest.raises(dynsim.DynsimInputError, match=r"mu must be in \[-2, 2\]"):
        ex.set_param("mu", "3")
    ex.set_window((-1.0, 1.0), (-0.5, 0.5))
    ex.view()
    assert runners() - before == compiled  # new values and a new window: the same compiled function
    assert "--window=-1.0:1.0,-0.5:0.5" in ex.command_argv()
    with pytest.raises(dynsim.DynsimInputError, match="empty or inverted") as e:
        ex.set_window((1.0, -1.0), (-0.5, 0.5))
    assert e.value.name == "window"


def test_dynsim_help_does_not_import_bokeh(capsys):
    import cli

    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "bokeh" or k.startswith("bokeh.")}
    try:
        assert cli.main(["--help"]) == 0 and cli.main(["explore", "--help"]) == 0
        assert "--no-browser" in capsys.readouterr().out
        assert not any(k == "bokeh" or k.startswith("bokeh.") for k in sys.modules)
    finally:
        sys.modules.update(saved)
