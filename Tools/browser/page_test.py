#!/usr/bin/env python3
"""The browser test of `cmpc-video serve`'s page: headless Chromium segments the sample clip through it.

Starts `cmpc-video serve --port 0` (reads its `cmpc-video: serving on http://HOST:PORT` line), starts
Debian's chromedriver and, through W3C WebDriver (JSON over HTTP, spoken here with urllib: no selenium),
a headless chromium on the page. It sends data/sample.mp4 to the file input, types a sentence in the
first sentence field, clicks Segment, waits until #status reads `done`, checks that #overlay is a <video>
whose src ends with overlay.mp4 and that it loaded the video's metadata (readyState >= 1, duration > 0),
takes a screenshot; then (unless --only-main) segments a still image made with ffmpeg (an <img> overlay, an
unknown word listed), submits random bytes (the server's reason shown), drops the clip on the drop zone and
follows it by polling (no EventSource), and cancels a running 256-frame clip.
Finally it stops the server (SIGTERM: it must exit 0) and exits 0. Any failure exits 1 with a message saying
what went wrong, the server's log and the page's console.

    apt-get install chromium chromium-driver          # .ci/setup does
    swift build && python3 Tools/browser/page_test.py [.build/debug/cmpc-video] [--screenshot /tmp/cmpc-page.png]

`--token T` starts the server with a token and enters it in the page's token field (the page then sends it
as a Bearer header and as ?access_token= on the events and the video). Python 3 standard library only.
"""
import argparse
import base64
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # W3C WebDriver's element reference key


class Failure(Exception):
    """A check that failed: its message is printed and the test exits 1."""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", nargs="?", default=os.path.join(ROOT, ".build/debug/cmpc-video"),
                        help="the cmpc-video binary (default: .build/debug/cmpc-video)")
    parser.add_argument("--screenshot", default="/tmp/cmpc-page.png", help="where to write the PNG screenshot")
    parser.add_argument("--clip", default=os.path.join(ROOT, "data/sample.mp4"), help="the clip to upload")
    parser.add_argument("--sentence", default="the red square jumping", help="the sentence to type")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the job to be done")
    parser.add_argument("--token", help="start the server with this --token and type it into the page")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the chromium binary")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="the chromedriver binary")
    parser.add_argument("--window", default="900,1750", help="the browser window's size, W,H")
    parser.add_argument("--only-main", action="store_true",
                        help="only the sample clip; skip the still image, the refused file and the cancelled job")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="one more argument for `cmpc-video serve` (repeatable), e.g. --serve-arg=--workers=2")
    return parser.parse_args()


# ---- processes ---------------------------------------------------------------------------------------

class Server:
    """`cmpc-video serve --port 0` as a child; its stdout line gives the URL, its output goes to a log."""

    def __init__(self, binary, extra, log_dir, start_timeout=120):
        if not os.access(binary, os.X_OK):
            raise Failure(f"no cmpc-video binary at {binary}: build it first (`swift build`) or pass its path")
        self.log_path = os.path.join(log_dir, "serve.log")
        self.log = open(self.log_path, "a+")
        command = [binary, "serve", "--port", "0"] + extra
        print("page_test: starting " + " ".join(command), flush=True)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=ROOT)
        lines = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + start_timeout
        self.url = None
        prefix = "cmpc-video: serving on "
        while self.url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"the server printed no `{prefix}http://HOST:PORT` line within {start_timeout:.0f} s")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.process.poll() is not None:
                    raise Failure(f"the server exited with status {self.process.returncode} before listening")
                continue
            if line is None:
                raise Failure(f"the server closed its stdout (status {self.process.wait()}) before listening")
            if line.startswith(prefix):
                self.url = line[len(prefix):].strip().rstrip("/")
        print(f"page_test: server at {self.url}", flush=True)

    def _read_stdout(self, lines):
        for line in self.process.stdout:
            self.log.write("[stdout] " + line)
            self.log.flush()
            lines.put(line)
        lines.put(None)

    def stop(self, timeout=30):
        """SIGTERM, then the exit status (SIGKILL after `timeout` seconds, reported as a failure)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise Failure(f"the server did not exit within {timeout} s of SIGTERM (killed)")
        return self.process.returncode

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """A chromedriver child and one headless chromium session, driven by W3C WebDriver JSON calls."""

    def __init__(self, chromedriver, chromium, window, log_dir):
        for path, package in ((chromedriver, "chromium-driver"), (chromium, "chromium")):
            if not os.access(path, os.X_OK):
                raise Failure(f"{path} is missing: install Debian's {package} (bash .ci/setup does)")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(log_dir, "chromedriver.log")
        self.process = subprocess.Popen([chromedriver, f"--port={port}", f"--log-path={self.log_path}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.session = None
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._call("GET", "/status", timeout=2).get("ready"):
                    break
            except (OSError, Failure):
                pass
            if self.process.poll() is not None:
                raise Failure(f"chromedriver exited with status {self.process.returncode} (log: {self.log_path})")
            if time.monotonic() > deadline:
                raise Failure(f"chromedriver did not become ready on port {port} within 30 s")
            time.sleep(0.2)
        profile = os.path.join(log_dir, "profile")
        options = {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window}", f"--user-data-dir={profile}", "--no-first-run",
                     "--autoplay-policy=no-user-gesture-required"],
        }
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.session = self._call("POST", "/session", capabilities, timeout=60)["sessionId"]

    def _call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                value = json.loads(error.read()).get("value", {})
                message = f"{value.get('error')}: {value.get('message', '').splitlines()[0] if value.get('message') else ''}"
            except (ValueError, AttributeError):
                message = str(error)
            raise Failure(f"WebDriver {method} {path} failed: {message}") from None
        return answer.get("value", answer)

    def cmd(self, method, path, body=None, timeout=30):
        return self._call(method, f"/session/{self.session}{path}", body, timeout)

    def open(self, url):
        self.cmd("POST", "/url", {"url": url}, timeout=60)

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT_KEY]

    def type(self, element, text):
        self.cmd("POST", f"/element/{element}/value", {"text": text})

    def click(self, element):
        self.cmd("POST", f"/element/{element}/click", {})

    def keys(self, text):
        """Presses the keys of `text` on the focused element (WebDriver actions; "\\ue007" is Enter)."""
        actions = []
        for key in text:
            actions += [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def run(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot", timeout=60))
        temp = path + ".tmp"
        with open(temp, "wb") as f:
            f.write(png)
        os.replace(temp, path)
        return len(png)

    def console(self):
        """The page's console messages (chromedriver's `browser` log), as text lines."""
        try:
            entries = self.cmd("POST", "/se/log", {"type": "browser"})
        except Failure:
            return []
        return [f"{e.get('level')}: {e.get('message')}" for e in entries or []]

    def quit(self):
        if self.session:
            try:
                self.cmd("DELETE", "", timeout=30)
            except (Failure, OSError):
                pass
            self.session = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---- the test ----------------------------------------------------------------------------------------

def wait_for(description, timeout, probe, interval=0.25):
    """Calls probe() until it returns a true value; a Failure naming `description` (a string, or a function
    giving one) after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    what = description() if callable(description) else description
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")


def drive_page(driver, server_url, args):
    clip = os.path.abspath(args.clip)
    if not os.path.isfile(clip):
        raise Failure(f"no clip at {clip}: pass --clip PATH")
    driver.open(server_url + "/")
    title = driver.run("return document.title;")
    if "cmpc-video" not in (title or ""):
        raise Failure(f"the page at {server_url}/ has title {title!r}, expected one naming cmpc-video")

    if args.token:
        wait_for("the token field to show (the page reads /v1/info's token_required)", 15,
                 lambda: driver.run("return !document.getElementById('token-row').hidden;"))
        driver.type(driver.find("#token"), args.token)
        # A change event stores it (the WebDriver typing alone fires input events only).
        driver.run("document.getElementById('token').dispatchEvent(new Event('change'));")

    wait_for("the page to show the server's information", 15,
             lambda: driver.run("const t = document.getElementById('server-info').textContent;"
                                "return t && !t.startsWith('Connecting') && !t.startsWith('Could not') ? t : null;"))
    driver.type(driver.find("#file"), clip)
    driver.type(driver.find("#sentences input[type=text]"), args.sentence)
    driver.click(driver.find("#segment"))
    print(f"page_test: submitted {os.path.basename(clip)} with {args.sentence!r}", flush=True)

    seen = []

    def status():
        state = driver.run("return [document.getElementById('status').textContent,"
                           " document.getElementById('error').textContent];")
        text, error = state[0] or "", state[1] or ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
            print(f"page_test: #status = {text!r}", flush=True)
        if text.startswith("failed") or text in ("cancelled", "not started"):
            raise Failure(f"the job did not finish: #status reads {text!r}" + (f"; #error reads {error!r}" if error else ""))
        return text == "done"

    started = time.monotonic()
    wait_for(lambda: "#status to read 'done' (it read " + " → ".join(repr(t) for t in seen or [""]) + ")",
             args.timeout, status, 0.5)
    print(f"page_test: done after {time.monotonic() - started:.1f} s", flush=True)

    overlay_state = ("const v = document.getElementById('overlay');"
                     "if (!v) return null;"
                     "return {tag: v.tagName, src: v.currentSrc || v.src || '', readyState: v.readyState,"
                     " duration: v.duration, error: v.error ? v.error.code : null,"
                     " width: v.videoWidth, height: v.videoHeight};")
    overlay = driver.run(overlay_state)
    if overlay is None:
        raise Failure("no #overlay element after the job was done")
    if overlay["tag"].lower() != "video":
        raise Failure(f"#overlay is a <{overlay['tag'].lower()}>, expected a <video> for a clip")
    if not overlay["src"].split("?")[0].endswith("overlay.mp4"):
        raise Failure(f"#overlay's src is {overlay['src']!r}, expected one ending with overlay.mp4")

    def loaded():
        state = driver.run(overlay_state)
        if state and state.get("error"):
            raise Failure(f"the overlay video failed to load: MediaError code {state['error']} (src {state['src']})")
        ok = state and state["readyState"] >= 1 and isinstance(state["duration"], (int, float)) and state["duration"] > 0
        return state if ok else None

    overlay = wait_for("the overlay video's metadata (readyState >= 1, duration > 0)", 30, loaded)
    # The screenshot shows the first frame, once the video is loaded and the player's loading spinner has
    # faded (a seek would bring the spinner back in headless chromium).
    try:
        wait_for("the overlay to load", 10,
                 lambda: driver.run("const v = document.getElementById('overlay');"
                                    "return v.readyState >= 3 && v.networkState === v.NETWORK_IDLE;"))
        time.sleep(1)
    except Failure:
        pass  # the metadata check above is the test; a loaded video only makes a better picture
    print(f"page_test: overlay {overlay['src']} loaded: {overlay['width']}×{overlay['height']}, "
          f"{overlay['duration']:.2f} s", flush=True)

    items = driver.run("return Array.from(document.querySelectorAll('#sentence-list li')).map(li => li.textContent);")
    if not items or args.sentence not in items[0]:
        raise Failure(f"the result's sentence list is {items!r}, expected it to hold {args.sentence!r}")
    links = driver.run("return [document.getElementById('download-zip').href, document.getElementById('download-json').href];")
    for link, name in zip(links, ("masks.zip", "masks.json")):
        if not link or name not in link:
            raise Failure(f"the download link for {name} is {link!r}")


# ---- more of the page: a still image, a refused file, cancelling -----------------------------------------

def page_state(driver):
    return driver.run("return {status: document.getElementById('status').textContent,"
                      " error: document.getElementById('error').textContent,"
                      " frames: document.getElementById('frames').textContent,"
                      " cancelHidden: document.getElementById('cancel').hidden};")


def submit(driver, server_url, path, sentences, args, keyboard=False):
    """Reloads the page (a token stays in the tab's sessionStorage), picks `path`, types `sentences`, and clicks
    Segment, or with `keyboard` types the sentences as key presses and presses Enter in the last one."""
    driver.open(server_url + "/")
    if args.token:
        value = driver.run("return document.getElementById('token').value;")
        if value != args.token:
            raise Failure(f"after a reload the token field holds {value!r}: the page should keep the token for the tab")
    wait_for("the page to read the server's information", 15,
             lambda: driver.run("const t = document.getElementById('server-info').textContent;"
                                "return t && !t.startsWith('Connecting') && !t.startsWith('Could not') ? t : null;"))
    driver.type(driver.find("#file"), path)
    for i, sentence in enumerate(sentences):
        if i > 0:
            driver.click(driver.find("#add-sentence"))
        if keyboard:
            if driver.run("return document.activeElement.id;") != f"sentence-{i + 1}":
                driver.run(f"document.getElementById('sentence-{i + 1}').focus();")
            driver.keys(sentence)
        else:
            driver.type(driver.find(f"#sentence-{i + 1}"), sentence)
    if keyboard:
        driver.keys("\ue007")  # Enter submits the form
    else:
        driver.click(driver.find("#segment"))


def wait_terminal(driver, timeout, accept=("done",)):
    def probe():
        state = page_state(driver)
        text = state["status"]
        if text.startswith("failed") or text in ("done", "cancelled", "not started"):
            return state
        return None
    state = wait_for("a final #status", timeout, probe, 0.25)
    if state["status"] not in accept:
        raise Failure(f"#status reads {state['status']!r} (#error {state['error']!r}), expected {' or '.join(accept)}")
    return state


def more_scenarios(driver, server_url, args, work):
    still = os.path.join(work, "still.png")
    long_clip = os.path.join(work, "long.mp4")
    junk = os.path.join(work, "junk.mp4")
    clip = os.path.abspath(args.clip)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise Failure("ffmpeg is not installed (apt-get install ffmpeg; .ci/setup does): it makes the still and the long clip")
    for command in ([ffmpeg, "-v", "error", "-y", "-i", clip, "-vf", "select=eq(n\\,5)", "-frames:v", "1", still],
                    [ffmpeg, "-v", "error", "-y", "-stream_loop", "7", "-i", clip, "-c", "copy", long_clip]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise Failure(f"{' '.join(command)} failed: {done.stderr.strip()}")
    with open(junk, "wb") as f:
        f.write(os.urandom(5000))

    # A still image with a known and a partly unknown sentence, typed and sent from the keyboard (Enter):
    # an <img> overlay, the unknown words listed.
    submit(driver, server_url, still, [args.sentence, "the purple elephant"], args, keyboard=True)
    wait_terminal(driver, args.timeout)
    image = driver.run("const v = document.getElementById('overlay');"
                       "return v ? {tag: v.tagName, src: v.src, complete: v.complete, width: v.naturalWidth} : null;")
    if not image or image["tag"].lower() != "img" or not image["src"].split("?")[0].endswith("overlay.png"):
        raise Failure(f"for a still, #overlay should be an <img> of overlay.png; it is {image!r}")
    wait_for("the overlay image to load", 15,
             lambda: driver.run("const v = document.getElementById('overlay'); return v.complete && v.naturalWidth > 0;"))
    items = driver.run("return Array.from(document.querySelectorAll('#sentence-list li')).map(li => li.textContent);")
    if len(items) != 2 or "unknown words" not in items[1] or "elephant" not in items[1].split("unknown words", 1)[1]:
        raise Failure(f"the sentence list {items!r} should name 'elephant' as an unknown word of the second sentence")
    print("page_test: a still image: <img> overlay, unknown word listed", flush=True)

    # Random bytes: the server refuses them (or the job fails); the page shows why.
    submit(driver, server_url, junk, [args.sentence], args)
    state = wait_terminal(driver, args.timeout, accept=("not started", "failed"))
    reason = state["error"] if state["status"] == "not started" else state["status"]
    if len(reason) < 10:
        raise Failure(f"a refused file should show the server's reason; #status {state['status']!r}, #error {state['error']!r}")
    print(f"page_test: random bytes: {reason[:90]!r}…", flush=True)

    # The clip dropped on the drop zone (a synthetic drop event carrying its bytes), followed by polling:
    # the page is told there is no EventSource.
    driver.open(server_url + "/")
    wait_for("the page to read the server's information", 15,
             lambda: driver.run("const t = document.getElementById('server-info').textContent;"
                                "return t && !t.startsWith('Connecting') && !t.startsWith('Could not') ? t : null;"))
    with open(clip, "rb") as f:
        payload = base64.b64encode(f.read()).decode()
    shown = driver.run(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const transfer = new DataTransfer();"
        "transfer.items.add(new File([bytes], arguments[1], {type: 'video/mp4'}));"
        "const zone = document.getElementById('drop');"
        "zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));"
        "zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));"
        "window.EventSource = undefined;"
        "return document.getElementById('drop-text').textContent;", payload, "dropped.mp4")
    if "dropped.mp4" not in (shown or ""):
        raise Failure(f"after a drop the drop zone reads {shown!r}, expected the dropped file's name")
    driver.type(driver.find("#sentence-1"), args.sentence)
    driver.click(driver.find("#options summary"))  # opens the options: every 4th frame
    driver.type(driver.find("#every"), "4")
    driver.click(driver.find("#segment"))
    state = wait_terminal(driver, args.timeout)
    source = driver.run("return document.getElementById('overlay').src;")
    if not source.split("?")[0].endswith("overlay.mp4"):
        raise Failure(f"after the dropped clip #overlay's src is {source!r}")
    counts = state["frames"].split(" frames")[0].split(" / ")
    if len(counts) != 2 or counts[0] != counts[1] or not 0 < int(counts[1]) < 32:
        raise Failure(f"with every 4th frame the page reads {state['frames']!r}, expected fewer frames than the clip's 32")
    print(f"page_test: a dropped clip, every 4th frame, followed by polling: done, {state['frames']}", flush=True)

    # A 256-frame clip, cancelled while it runs.
    submit(driver, server_url, long_clip, [args.sentence], args)
    wait_for("the long clip's job to run", args.timeout,
             lambda: page_state(driver)["status"] == "running" or
             page_state(driver)["status"] in ("done", "not started") or page_state(driver)["status"].startswith("failed"))
    if page_state(driver)["status"] != "running":
        raise Failure(f"the long clip's job should be running; #status reads {page_state(driver)['status']!r}")
    driver.click(driver.find("#cancel"))
    state = wait_terminal(driver, 30, accept=("cancelled",))
    if not state["cancelHidden"]:
        raise Failure("the Cancel button is still shown after the job was cancelled")
    print(f"page_test: cancelled a running job at {state['frames']}", flush=True)


def main():
    args = parse_args()
    log_dir = tempfile.mkdtemp(prefix="cmpc-page-test-")
    server = driver = None
    status = 1
    try:
        extra = list(args.serve_arg) + (["--token", args.token] if args.token else [])
        server = Server(os.path.abspath(args.binary), extra, log_dir)
        driver = WebDriver(args.chromedriver, args.chromium, args.window, log_dir)
        drive_page(driver, server.url, args)
        size = driver.screenshot(args.screenshot)
        print(f"page_test: screenshot {args.screenshot} ({size} bytes)", flush=True)
        if not args.only_main:
            more_scenarios(driver, server.url, args, log_dir)
        driver.quit()
        driver = None
        code = server.stop()
        if code != 0:
            raise Failure(f"the server exited with status {code} after SIGTERM, expected 0")
        print("page_test: passed", flush=True)
        status = 0
        print("page_test: 1 passed, 0 failed", flush=True)
    except Failure as failure:
        print(f"page_test: FAILED: {failure}", file=sys.stderr, flush=True)
    except Exception as error:  # an unexpected error is a failure too, with its type
        print(f"page_test: FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    finally:
        if status != 0 and driver is not None:
            try:
                driver.screenshot(args.screenshot)
                print(f"page_test: screenshot of the failure: {args.screenshot}", file=sys.stderr)
            except (Failure, OSError):
                pass
            console = driver.console()
            if console:
                print("page_test: the page's console:\n  " + "\n  ".join(console), file=sys.stderr)
        if driver is not None:
            driver.quit()
        if server is not None:
            try:
                server.stop()
            except Failure as failure:
                print(f"page_test: {failure}", file=sys.stderr)
            if status != 0:
                print("page_test: the server's output:\n" + server.output()[-4000:], file=sys.stderr)
        shutil.rmtree(log_dir, ignore_errors=True)
    if status != 0:
        print("page_test: 0 passed, 1 failed", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
