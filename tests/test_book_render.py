"""Every page of the built book renders offline in a real browser (headless Chromium).

For each page in ``_toc.yml`` the test loads ``_build/html/<page>.html`` from disk with all host
names unresolvable (so anything fetched from the network fails, as it would offline), lets
MathJax and the widget manager run, and checks the rendered DOM:

- math is typeset: every ``.math`` element holds an ``mjx-container``, no MathJax error, and no
  raw TeX (``$$``, ``\\begin{``, ``\\(``, ...) left in the visible text outside code;
- figures are there: every ``<img>`` is a decodable ``data:`` URI or a file that exists, and a
  page executed from a notebook shows at least one image among its cell outputs;
- widgets are shown: a page whose cells display widgets gets one rendered view per widget
  (in its initial state, from the widget state embedded at build time), and no widget error;
- nothing comes from a CDN: no ``<script src>`` or stylesheet with a remote URL, before or after
  the scripts ran;
- no JavaScript error: any uncaught exception, ``console.error`` or browser log entry of level
  error (a failed load among them) fails the test;
- outputs wrap: no cell output's text is wider than its box (measured in the page).

Each page is loaded once, in one Chromium driven over the DevTools protocol (over
``--remote-debugging-pipe``, no extra package), which gives the log, the rendered DOM, the
measurement and one screenshot per page, kept under ``_build/screenshots/`` for a human to look
at.

The book is built first (``scripts/build_book.py``) when ``_build/html`` is missing or was built
from other inputs. Chromium: Debian's ``chromium`` (``scripts/run_tests.py`` installs it when
missing). Without it the test is skipped, except under ``CI=true``, where it fails.
"""
from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import os
import select
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = pathlib.Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
VIRTUAL_TIME_MS = int(os.environ.get("REGR_RENDER_BUDGET_MS", "10000"))
SHOT_SIZE = os.environ.get("REGR_SCREENSHOT_SIZE", "1280,2400")   # width,height in CSS pixels

# TeX that must not be visible once MathJax has run (outside code blocks and typeset math).
RAW_TEX = re.compile(r"\$\$|\\begin\{|\\end\{|\\\(|\\\)|\\\[|\\\]|\$\\[A-Za-z]+|\\frac\{|"
                     r"\\mathbf\{|\\mathrm\{|\\top\b|\\times\b")
# Containers whose text is code or already typeset math.
NOT_PROSE = ["pre", "code", "script", "style", "textarea", "mjx-container", "mjx-assistive-mml"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# ------------------------------------------------------------------------------ pages
def toc_pages() -> list[str]:
    """Every page named in _toc.yml (``book/intro`` etc.), root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built_book() -> pathlib.Path:
    """``_build/html``, built now if missing or stale (inputs changed since the last build)."""
    build = _build_module()
    if build.is_stale():
        print("\n_build/html is missing or stale: building the book", flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "scripts" / "build_book.py")], cwd=ROOT)
        assert code == 0, "scripts/build_book.py failed: the book does not build (see its log)"
    assert (HTML / "index.html").is_file()
    return HTML


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = ("headless Chromium is not installed (apt-get install -y chromium); "
               "scripts/run_tests.py installs it when run as root")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " -- CI=true: the render test may not be skipped")
    pytest.skip(message)


def console_messages(chromium: str, url: str, budget_ms: int = VIRTUAL_TIME_MS,
                     timeout: float = 120.0, evaluate: str | None = None) -> list[tuple[str, str]]:
    """``(level, text)`` of everything the page logs (see :func:`render`)."""
    return render(chromium, url, budget_ms, timeout, evaluate)["messages"]


def render(chromium: str, url: str, budget_ms: int = VIRTUAL_TIME_MS, timeout: float = 120.0,
           evaluate: str | None = None, dom: bool = False,
           screenshot: pathlib.Path | None = None) -> dict:
    """Load a page once in Chromium, driven over the DevTools protocol: what it logs, and (on
    request) its rendered DOM and a screenshot. Returns ``{"messages": [(level, text), ...],
    "dom": str | None}``.

    Chromium reads commands from fd 3 and writes replies and events to fd 4
    (``--remote-debugging-pipe``, NUL-separated JSON). The page is opened in a fresh target with
    ``Runtime`` and ``Log`` enabled before it loads, so errors of the first scripts are caught;
    after its load event, virtual time runs ``budget_ms`` more (timers, MathJax, widgets).
    Levels: ``console.*`` types (``error``, ``warning``, ``log`` ...), ``exception`` (uncaught),
    ``log-<level>`` (the browser's own entries: failed loads, violations). With ``evaluate``, a
    JavaScript expression run on the rendered page, its value is appended as ``("value", ...)``.
    With ``dom``, the rendered document's HTML (what ``--dump-dom`` prints) is returned; with
    ``screenshot``, the page is laid out at ``SHOT_SIZE`` and a PNG of it written there. One
    browser does all of it: each launch costs seconds, and a page used to need three.
    """
    r_cmd, w_cmd = os.pipe()
    r_out, w_out = os.pipe()
    messages: list[tuple[str, str]] = []
    html = None
    with tempfile.TemporaryDirectory(prefix="regr-cdp-") as profile:
        def child_fds():
            os.dup2(r_cmd, 3)
            os.dup2(w_out, 4)
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(r_cmd)
        os.close(w_out)
        buf, counter = b"", [0]

        def send(method, params=None, session=None) -> int:
            counter[0] += 1
            msg = {"id": counter[0], "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            os.write(w_cmd, json.dumps(msg).encode() + b"\0")
            return counter[0]

        def until(predicate, deadline):
            nonlocal buf
            while time.monotonic() < deadline:
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    method, p = msg.get("method"), msg.get("params", {})
                    if method == "Runtime.consoleAPICalled":
                        text = " ".join(str(a.get("value", a.get("description", "")))
                                        for a in p.get("args", []))
                        messages.append((p.get("type", "log"), text))
                    elif method == "Runtime.exceptionThrown":
                        d = p.get("exceptionDetails", {})
                        messages.append(("exception", (d.get("exception") or {}).get("description")
                                         or d.get("text", "")))
                    elif method == "Log.entryAdded":
                        e = p.get("entry", {})
                        messages.append((f"log-{e.get('level')}",
                                         f"{e.get('text', '')} {e.get('url', '')}".strip()))
                    if "error" in msg and "id" in msg:
                        raise RuntimeError(f"DevTools error: {msg['error']}")
                    if predicate(msg):
                        return msg
                if select.select([r_out], [], [], 0.5)[0]:
                    chunk = os.read(r_out, 1 << 16)
                    if not chunk:
                        raise RuntimeError("chromium closed the DevTools pipe")
                    buf += chunk
            raise TimeoutError(f"chromium did not finish {url} in {timeout:.0f} s")

        try:
            deadline = time.monotonic() + timeout
            i = send("Target.createTarget", {"url": "about:blank"})
            target = until(lambda m: m.get("id") == i, deadline)["result"]["targetId"]
            i = send("Target.attachToTarget", {"targetId": target, "flatten": True})
            session = until(lambda m: m.get("id") == i, deadline)["result"]["sessionId"]
            for method in ("Runtime.enable", "Log.enable", "Page.enable"):
                i = send(method, session=session)
                until(lambda m: m.get("id") == i, deadline)
            send("Page.navigate", {"url": url}, session)
            until(lambda m: m.get("method") == "Page.loadEventFired", deadline)
            send("Emulation.setVirtualTimePolicy",
                 {"policy": "pauseIfNetworkFetchesPending", "budget": budget_ms}, session)
            until(lambda m: m.get("method") == "Emulation.virtualTimeBudgetExpired", deadline)
            def value(expression):
                i = send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                         session)
                return until(lambda m: m.get("id") == i, deadline)["result"]["result"].get("value")

            if evaluate:
                messages.append(("value", str(value(evaluate))))
            if dom:
                html = value("document.documentElement.outerHTML")
            if screenshot is not None:
                width, height = (int(v) for v in SHOT_SIZE.split(","))
                i = send("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1,
                          "mobile": False}, session)
                until(lambda m: m.get("id") == i, deadline)
                value("window.scrollTo(0, 0)")
                # virtual time stopped when the budget ran out: run a little more, so the page
                # lays out and paints at the new size before the capture
                send("Emulation.setVirtualTimePolicy",
                     {"policy": "pauseIfNetworkFetchesPending", "budget": 1000}, session)
                until(lambda m: m.get("method") == "Emulation.virtualTimeBudgetExpired", deadline)
                i = send("Page.captureScreenshot", {"format": "png"}, session)
                data = until(lambda m: m.get("id") == i, deadline)["result"]["data"]
                screenshot.write_bytes(base64.b64decode(data))
        finally:
            try:
                send("Browser.close")
            except OSError:
                pass
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(w_cmd)
            os.close(r_out)
    return {"messages": messages, "dom": html}


ERROR_LEVELS = {"error", "assert", "exception", "log-error"}
# Text outputs wider than their box (book/_assets/regr_edu.css wraps them): their first words.
OVERFLOWING_OUTPUTS = ("JSON.stringify([...document.querySelectorAll('.cell_output pre')]"
                       ".filter(e => e.scrollWidth > e.clientWidth + 2)"
                       ".map(e => e.textContent.trim().slice(0, 60)))")


def console_errors(messages: list[tuple[str, str]]) -> list[str]:
    return [f"{level}: {text[:300]}" for level, text in messages if level in ERROR_LEVELS]


# ------------------------------------------------------------------------------ checks
def _remote(url: str | None) -> bool:
    return bool(url) and (url.startswith("//") or urllib.parse.urlparse(url).scheme in ("http", "https"))


def remote_assets(soup: BeautifulSoup) -> list[str]:
    found = [f"<script src={s['src']}>" for s in soup.find_all("script", src=True) if _remote(s["src"])]
    for link in soup.find_all("link", href=True):
        rel = " ".join(link.get("rel") or [])
        if ("stylesheet" in rel or "preload" in rel or "modulepreload" in rel) and _remote(link["href"]):
            found.append(f"<link rel={rel} href={link['href']}>")
    return found


def visible_prose(soup: BeautifulSoup) -> str:
    soup = BeautifulSoup(str(soup.find("main") or soup.body or soup), "html.parser")
    for tag in soup.find_all(NOT_PROSE):
        tag.decompose()
    for tag in soup.select(".highlight, .cell_input"):
        tag.decompose()
    return soup.get_text(" ")


def check_math(static: BeautifulSoup, dom: BeautifulSoup) -> list[str]:
    problems = []
    n_static = len(static.select(".math"))
    untypeset = [el for el in dom.select(".math") if el.find("mjx-container") is None]
    if n_static and not dom.find("mjx-container"):
        problems.append(f"{n_static} math elements but no mjx-container: MathJax did not run")
    elif untypeset:
        problems.append(f"{len(untypeset)} of {n_static} math elements not typeset, first: "
                        f"{untypeset[0].get_text()[:80]!r}")
    errors = dom.find_all("mjx-merror")
    if errors:
        problems.append(f"MathJax errors: {[e.get('data-mjx-error') or e.get_text()[:60] for e in errors[:3]]}")
    raw = [m.group(0) for m in RAW_TEX.finditer(visible_prose(dom))]
    if raw:
        prose = visible_prose(dom)
        first = RAW_TEX.search(prose)
        problems.append(f"raw TeX visible: {sorted(set(raw))[:5]} near "
                        f"{prose[max(0, first.start() - 60):first.end() + 60]!r}")
    return problems


def check_images(page: pathlib.Path, static: BeautifulSoup, dom: BeautifulSoup) -> list[str]:
    problems = []
    main = dom.find("main") or dom
    for img in main.find_all("img"):
        src = img.get("src") or ""
        if src.startswith("data:"):
            header, _, payload = src.partition(",")
            try:
                data = base64.b64decode(payload) if ";base64" in header else payload.encode()
            except (binascii.Error, ValueError):
                data = b""
            if len(data) < 100:
                problems.append(f"image data URI is empty or broken: {src[:60]}...")
        elif src.startswith("blob:"):
            continue  # made in the browser by the page's own scripts (the widget manager)
        elif _remote(src):
            problems.append(f"image from the network: {src}")
        else:
            target = (page.parent / urllib.parse.unquote(src.split("?")[0].split("#")[0])).resolve()
            if not target.is_file() or target.stat().st_size == 0:
                problems.append(f"image file missing: {src}")
    if static.select(".cell") and not static.select(".cell_output img"):
        problems.append("page executed from a notebook shows no figure in any cell output "
                        "(every chapter has at least one)")
    return problems


def check_widgets(static: BeautifulSoup, dom: BeautifulSoup) -> list[str]:
    views = static.find_all("script", type=WIDGET_VIEW)
    if not views:
        return []
    problems = []
    if not static.find("script", type=WIDGET_STATE):
        problems.append(f"{len(views)} widget views but no widget state embedded in the page "
                        "(executed without storing widget state?)")
    shown = 0
    for script in dom.find_all("script", type=WIDGET_VIEW):
        area = script.parent
        if area is not None and area.select(".jupyter-widgets, .widget-subarea .lm-Widget"):
            shown += 1
    if shown < len(views):
        problems.append(f"{len(views)} widget views in the page, {shown} rendered by the widget "
                        "manager (widgets missing: is book/_assets/widgets/embed-amd.js loaded?)")
    text = dom.get_text(" ")
    if "Error displaying widget" in text or dom.select(".jupyter-widgets-error-widget"):
        problems.append("a widget failed to render (Error displaying widget)")
    return problems


# ------------------------------------------------------------------------------ the test
@pytest.mark.slow
@pytest.mark.parametrize("name", toc_pages())
def test_page_renders(name: str, built_book: pathlib.Path, chromium: str) -> None:
    page = built_book / f"{name}.html"
    assert page.is_file(), f"{name} is in _toc.yml but {page} was not built"
    static = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (name.replace("/", "__") + ".png")
    shot.unlink(missing_ok=True)
    seen = render(chromium, page.as_uri(), evaluate=OVERFLOWING_OUTPUTS, dom=True, screenshot=shot)
    assert seen["dom"] and "<html" in seen["dom"], f"chromium could not render {page}"
    dom = BeautifulSoup(seen["dom"], "html.parser")

    problems = [f"loads from the network: {a}" for a in remote_assets(static)]
    problems += [f"after rendering, loads from the network: {a}" for a in remote_assets(dom)
                 if f"loads from the network: {a}" not in problems]
    problems += check_math(static, dom)
    problems += check_images(page, static, dom)
    problems += check_widgets(static, dom)
    messages = seen["messages"]
    problems += [f"JavaScript {e}" for e in console_errors(messages)]
    cut = [text for level, text in messages if level == "value" and text not in ("", "[]")]
    if cut:
        problems.append(f"cell outputs run off the right edge (not wrapped): {cut[0][:300]}")
    if not shot.is_file() or shot.stat().st_size < 10_000:
        problems.append(f"no usable screenshot at {shot}")

    assert not problems, f"{page.relative_to(ROOT)} does not render as it should:\n  - " + \
        "\n  - ".join(problems)


def test_toc_lists_only_existing_pages() -> None:
    """A page in _toc.yml without its file breaks the -W build; say which one."""
    missing = [p for p in toc_pages()
               if not any((ROOT / f"{p}{ext}").is_file() for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml names pages that do not exist: {missing}"


# ------------------------------------------------------------------------------ no build needed
ASSETS = ROOT / "book" / "_assets"
_TYPESET_PAGE = """<html><body><p id="m">\\(x^2\\)</p>{shim}
<script defer src="{assets}/mathjax/tex-chtml.js"></script>
<script>
// what @jupyter-widgets/html-manager 1.0.6 runs for a widget's label (its `typeset`)
window.addEventListener("load", function () {{ setTimeout(function () {{
  void 0 !== window.MathJax && MathJax.Hub.Queue(["Typeset", MathJax.Hub, document.getElementById("m")]);
  console.log("typeset called");
}}, 50); }});
</script></body></html>"""


@pytest.mark.parametrize("with_shim", [True, False])
def test_widget_manager_typesets_on_mathjax3(with_shim, chromium, tmp_path):
    """The shim gives MathJax 3 the MathJax 2 call the widget manager makes; without it, the
    console check sees the error every widget page used to log."""
    assets = ASSETS.as_uri()
    shim = f'<script src="{assets}/mathjax2-shim.js"></script>' if with_shim else ""
    page = tmp_path / "typeset.html"
    page.write_text(_TYPESET_PAGE.format(shim=shim, assets=assets), encoding="utf-8")
    messages = console_messages(chromium, page.as_uri(), budget_ms=3000)
    errors = console_errors(messages)
    if with_shim:
        assert not errors, errors
        assert ("log", "typeset called") in messages
    else:
        assert any("reading 'Queue'" in e for e in errors), messages


def test_shim_loads_before_the_widget_manager():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    scripts = list(config["sphinx"]["config"]["nb_ipywidgets_js"])
    assert scripts.index("mathjax2-shim.js") < scripts.index("widgets/embed-amd.js")
    assert scripts.index("widgets-paths.js") < scripts.index("require/require.js")
    assert (ASSETS / "mathjax2-shim.js").is_file() and (ASSETS / "widgets-paths.js").is_file()
    assert "quiet_console" in config["sphinx"]["local_extensions"]     # the theme's default_mode
