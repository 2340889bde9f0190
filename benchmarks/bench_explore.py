"""`dynsim explore`: the redraw after a parameter change, server side (recompute + replace the glyphs'
data, in one process) and in a headless Chromium (from the slider's change in the page to the
updated glyphs painted: the stationary points' data arrived and the animation frame that draws them).
Also writes the README's screenshot docs/explore.png. Writes benchmarks/results/explore.json.

    python benchmarks/bench_explore.py [--moves 40] [--no-screenshot]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("EQX_ON_ERROR", "nan")

import numpy as np
from _common import write

import dynsim
from dynsim.tools.explore import Explorer, serve

M = "const m = n => Bokeh.documents[0].get_model_by_name(n);"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1080,720")


def stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"n": int(a.size), "median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max())}


def server_side(moves: int) -> dict:
    from bokeh.document import Document

    from dynsim.tools.explore._page import Page

    page = Page(Document(), Explorer(dynsim.load_model("eigen"), model_spec="eigen"))  # compiles once
    etas = np.linspace(1e-3, 0.11, moves)
    out = []
    for eta in etas:
        t0 = time.perf_counter()
        page._set("eta", float(eta), from_box=False)  # what a slider move runs
        out.append(1e3 * (time.perf_counter() - t0))
    return stats(out)


def browser(moves: int, screenshot: Path | None) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    server = serve("eigen", port=0, out=tempfile.mkdtemp())
    opts = webdriver.ChromeOptions()
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument("--user-data-dir=" + tempfile.mkdtemp())
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    js = lambda code, *a: driver.execute_script(M + code, *a)  # noqa: E731

    def wait(cond, timeout=120.0):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            v = js(cond)
            if v:
                return v
            time.sleep(0.01)
        raise TimeoutError(cond)

    try:
        driver.get(server.url)
        wait("try { return m('fixed_points').data.x.length > 0 } catch (e) { return false }")
        js("m('fixed_points').change.connect(() => { window.t.data = performance.now();"
           " requestAnimationFrame(() => { window.t.painted = performance.now(); }); });")
        data, painted = [], []
        for eta in np.linspace(1e-3, 0.11, moves):
            js("window.t = {start: performance.now()}; m('slider-eta').value = arguments[0];", float(eta))
            wait("return window.t.painted !== undefined")
            t = js("return window.t")
            data.append(t["data"] - t["start"])
            painted.append(t["painted"] - t["start"])
        out = {"to_data_ms": stats(data), "to_painted_ms": stats(painted)}
        if screenshot is not None:
            js("m('slider-eta').value = 0.06;")
            time.sleep(0.5)
            js("m('basins-toggle').active = true")
            t0 = time.perf_counter()
            wait("return m('basins-toggle').label.includes('128')", 600)
            out["basin_map_first_toggle_s"] = time.perf_counter() - t0
            from selenium.webdriver.common.action_chains import ActionChains

            for x, y in ((0.3, 0.6), (0.05, 0.7), (0.8, 0.05), (-0.1, 0.3), (0.15, 0.1)):
                sx, sy = js("const v = Bokeh.index.find_one(m('plane')); const r = v.canvas_view.el.getBoundingClientRect();"
                            "return [r.left + v.frame.x_scale.compute(arguments[0]), r.top + v.frame.y_scale.compute(arguments[1])];",
                            x, y)
                ActionChains(driver).move_by_offset(sx, sy).click().move_by_offset(-sx, -sy).perform()
            wait("return m('forward').data.xs.length == 5")
            time.sleep(1.0)
            driver.save_screenshot(str(screenshot))
            out["screenshot"] = str(screenshot)
        return out
    finally:
        driver.quit()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--no-screenshot", action="store_true")
    args = ap.parse_args()
    shot = None if args.no_screenshot else Path(__file__).parents[1] / "docs" / "explore.png"
    server = server_side(args.moves)
    print(f"server side redraw after a parameter change: median {server['median_ms']:.1f} ms, "
          f"p95 {server['p95_ms']:.1f} ms")
    page = browser(args.moves, shot)
    print(f"browser, slider change to updated glyphs painted: median {page['to_painted_ms']['median_ms']:.1f} ms, "
          f"p95 {page['to_painted_ms']['p95_ms']:.1f} ms")
    write("explore", {"model": "eigen (EigenDynamics2D), default window", "budget_ms": 150,
                      "load_average_1_5_15_min": list(os.getloadavg()),
                      "server_redraw": server, "browser": page,
                      "note": "server: set_param + view (field 24^2, nullclines 121^2, roots from 8^2 + 8 closed-form "
                              "starts) + data sources replaced; browser: Chromium headless, the slider's value set "
                              "in the page, until the stationary points' data arrived and until the animation frame that paints it (a "
                              "requestAnimationFrame registered after BokehJS's own, so it runs after that repaint)"})


if __name__ == "__main__":
    main()
