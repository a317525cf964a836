#!/usr/bin/env python3
"""Headless-Chromium test of the nerfedit web viewer (registered with CTest as `viewer_browser`).

Starts viewer_browser_check (the analytic sphere scene on a free loopback port), drives Debian's chromium over the
DevTools protocol on a pipe (--remote-debugging-pipe: no port, no websocket library, Python stdlib only), drags on
the canvas to orbit, and compares screenshots: the picture must change with the drag and must not be blank.
Also checks the mode toggle, the training-camera dropdown, progressive refinement, and that the edit panel shows
only for a scene with features. Last, on a real tiny feature-field run (trained into --out/viewer_tiny_dff on first
use, about a minute), it types a text query and checks the selection overlay appears in the screenshot, deletes the
selection and checks the picture changes, and undoes it. Screenshots are kept in --out (viewer_screenshot.png is the
one after the drag, viewer_select_overlay.png the one with the selection).
Exit 77 (CTest SKIP_RETURN_CODE) when chromium is absent.
"""
import argparse
import base64
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77


def fail(message):
    print("viewer_browser: FAIL: " + message, flush=True)
    sys.exit(1)


def decode_png(data):
    """(width, height, rows) of an 8-bit RGB/RGBA non-interlaced PNG; rows are bytearrays of RGB(A) pixels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError("unsupported PNG: depth %d colour %d interlace %d" % (depth, colour, interlace))
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + previous[i]) & 255
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + predictor) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def region_pixels(png, rect):
    """RGB tuples of the screenshot inside rect (CSS px; the page runs at device scale 1), every 2nd pixel."""
    width, height, channels, rows = png
    x0, y0 = max(0, int(rect["left"])), max(0, int(rect["top"]))
    x1, y1 = min(width, int(rect["right"])), min(height, int(rect["bottom"]))
    out = []
    for y in range(y0, y1, 2):
        row = rows[y]
        for x in range(x0, x1, 2):
            i = x * channels
            out.append((row[i], row[i + 1], row[i + 2]))
    return out


class DevTools:
    """Chrome DevTools protocol over --remote-debugging-pipe: NUL-terminated JSON, we write fd 3, read fd 4."""

    def __init__(self, write_fd, read_fd):
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer, self.next_id = b"", 0

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})


class Page:
    def __init__(self, devtools, session):
        self.devtools, self.session = devtools, session

    def call(self, method, params=None, timeout=30):
        return self.devtools.call(method, params, self.session, timeout)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError("page threw on %r: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.05)
        status = self.evaluate("document.getElementById('status').textContent")
        fail("timed out waiting for %s (status line: %r)" % (what, status))

    def wait_idle(self, what):
        self.wait_for("!!(window.nerfeditViewer && window.nerfeditViewer.idle())", what)

    def screenshot(self, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        with open(path, "wb") as f:
            f.write(data)
        return decode_png(data)

    def mouse(self, kind, x, y, buttons):
        self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons,
                                               "clickCount": 1 if kind != "mouseMoved" else 0})


def start_server(binary, static_dir, features, dff_dir=None):
    command = [binary, "--static", static_dir] + (["--features"] if features else [])
    if dff_dir:
        command += ["--dff", dff_dir]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline().strip()
    if not line.startswith("PORT "):
        fail("viewer_browser_check did not start: %r" % line)
    return server, int(line.split()[1])


def start_chromium(chromium, profile_dir, log_path):
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def child_fds():
        # Move both ends out of the way first, so dup2 onto 3 and 4 cannot clobber one another.
        a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
        high_a, high_b = os.dup2(a, 100), os.dup2(b, 101)
        os.dup2(high_a, 3)
        os.dup2(high_b, 4)

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--window-size=960,720",
             "--user-data-dir=" + profile_dir, "--remote-debugging-pipe", "about:blank"]
    log = open(log_path, "wb")
    browser = subprocess.Popen([chromium] + flags, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               pass_fds=(3, 4), preexec_fn=child_fds)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    return browser, DevTools(to_chrome_w, from_chrome_r)


def open_page(devtools, url):
    target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    page = Page(devtools, session)
    page.call("Emulation.setDeviceMetricsOverride", {"width": 960, "height": 720, "deviceScaleFactor": 1,
                                                     "mobile": False})
    page.call("Page.enable")
    page.call("Runtime.enable")
    page.call("Page.navigate", {"url": url})
    return page


def picture_stats(pixels):
    n = len(pixels)
    mean = [sum(p[c] for p in pixels) / n for c in range(3)]
    variance = sum((p[0] - mean[0]) ** 2 + (p[1] - mean[1]) ** 2 + (p[2] - mean[2]) ** 2 for p in pixels) / (3 * n)
    return variance ** 0.5, len(set(pixels))


def overlay_fraction(pixels):
    """Fraction of pixels in the server's selection tint (magenta blended 0.55 over the render)."""
    return sum(1 for p in pixels if p[0] > 150 and p[2] > 70 and p[1] < 90 and p[2] - p[1] > 40) / len(pixels)


def check_select_and_edit(page, out):
    """On a feature-field run: text query -> overlay in the picture; delete -> it changes; undo -> it is back."""
    page.wait_idle("the first picture of the feature-field run")
    if page.evaluate("document.getElementById('edit-panel').hidden"):
        fail("the edit panel is hidden for a feature-field run")
    if page.evaluate("document.getElementById('edit-delete').disabled"):
        fail("the delete button is disabled although the server has /api/edit")
    canvas = page.evaluate("(() => { const r = document.getElementById('view').getBoundingClientRect();"
                           " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })()")
    plain = region_pixels(page.screenshot(os.path.join(out, "viewer_dff_plain.png")), canvas)

    # The tiny teacher (150 steps) knows colours, not every canonical negative: name the scene's other things in the
    # negatives field, as a user does for a sure selection (and as edit_session_test does).
    page.evaluate("(() => { document.getElementById('query').value = 'red sphere';"
                  " document.getElementById('negatives').value = 'ground, blue box, green cylinder, yellow cone,"
                  " purple torus';"
                  " document.getElementById('query-submit').click(); })()")
    page.wait_for("window.nerfeditViewer.state.selection !== null || "
                  "document.getElementById('edit-status').classList.contains('error')", "the selection")
    edit_status = page.evaluate("document.getElementById('edit-status').textContent")
    if page.evaluate("window.nerfeditViewer.state.selection === null"):
        fail("the text query failed: %r" % edit_status)
    page.wait_idle("the picture with the selection overlay")
    selected = region_pixels(page.screenshot(os.path.join(out, "viewer_select_overlay.png")), canvas)
    status = page.evaluate("document.getElementById('status').textContent")
    before, with_overlay = overlay_fraction(plain), overlay_fraction(selected)
    print("viewer_browser: query 'red sphere': %r; overlay tint on %.2f%% of the canvas (%.2f%% before); status %r"
          % (edit_status, 100 * with_overlay, 100 * before, status), flush=True)
    if with_overlay - before < 0.003:
        fail("the selection overlay is not in the picture (%.2f%% tinted, %.2f%% before)"
             % (100 * with_overlay, 100 * before))
    if 'selected "red sphere"' not in status or "render" not in status or "\u00d7" not in status:
        fail("status line lacks the selection, render time or resolution: %r" % status)

    page.evaluate("document.getElementById('edit-delete').click()")
    page.wait_for("document.getElementById('edit-status').textContent.includes('delete') || "
                  "document.getElementById('edit-status').classList.contains('error')", "the delete")
    page.wait_idle("the picture after the delete")
    deleted = region_pixels(page.screenshot(os.path.join(out, "viewer_after_delete.png")), canvas)
    changed = sum(1 for a, b in zip(selected, deleted) if max(abs(a[i] - b[i]) for i in range(3)) > 24) / len(deleted)
    print("viewer_browser: delete: %r; %.2f%% of the canvas changed, tint now %.2f%%"
          % (page.evaluate("document.getElementById('edit-status').textContent"), 100 * changed,
             100 * overlay_fraction(deleted)), flush=True)
    if changed < 0.5 * (with_overlay - before):
        fail("the picture barely changed after delete (%.2f%%)" % (100 * changed))

    page.evaluate("document.getElementById('edit-undo').click()")
    page.wait_for("document.getElementById('edit-status').textContent.includes('undid') || "
                  "document.getElementById('edit-status').classList.contains('error')", "the undo")
    page.wait_idle("the picture after the undo")
    undone = region_pixels(page.screenshot(os.path.join(out, "viewer_after_undo.png")), canvas)
    if overlay_fraction(undone) < 0.5 * with_overlay:
        fail("undo did not bring the selected object back (tint %.2f%%)" % (100 * overlay_fraction(undone)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="viewer_browser_check executable")
    parser.add_argument("--static", required=True, help="the viewer's static folder")
    parser.add_argument("--out", required=True, help="folder for screenshots and the chromium log")
    args = parser.parse_args()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("viewer_browser: skipped: chromium is not installed (scripts/setup.sh installs it: apt-get install "
              "chromium)", flush=True)
        return SKIP
    os.makedirs(args.out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="nerfedit-chromium-")
    servers = []
    browser = None
    try:
        server, port = start_server(args.server, args.static, features=False)
        servers.append(server)
        browser, devtools = start_chromium(chromium, profile, os.path.join(args.out, "viewer_chromium.log"))
        page = open_page(devtools, "http://127.0.0.1:%d/" % port)
        page.wait_idle("the first full-resolution picture")
        if not page.evaluate("document.getElementById('edit-panel').hidden"):
            fail("the edit panel is visible for a scene without features")
        canvas = page.evaluate("(() => { const r = document.getElementById('view').getBoundingClientRect();"
                               " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })()")
        before = region_pixels(page.screenshot(os.path.join(args.out, "viewer_before_drag.png")), canvas)

        # Orbit: a left drag across the canvas, in small steps like a hand would.
        cx, cy = (canvas["left"] + canvas["right"]) / 2, (canvas["top"] + canvas["bottom"]) / 2
        previews_before = page.evaluate("window.nerfeditViewer.state.shownCount.preview")
        page.mouse("mousePressed", cx, cy, 1)
        for step in range(1, 16):
            page.mouse("mouseMoved", cx + 14 * step, cy + 4 * step, 1)
            time.sleep(0.03)
        page.mouse("mouseReleased", cx + 14 * 15, cy + 4 * 15, 0)
        page.wait_idle("the full-resolution picture after the drag")
        previews = page.evaluate("window.nerfeditViewer.state.shownCount.preview") - previews_before
        after_png = page.screenshot(os.path.join(args.out, "viewer_screenshot.png"))
        after = region_pixels(after_png, canvas)

        changed = sum(1 for a, b in zip(before, after) if max(abs(a[i] - b[i]) for i in range(3)) > 24)
        changed_fraction = changed / len(after)
        spread, colours = picture_stats(after)
        red = sum(1 for p in after if p[0] > 150 and p[1] < 100 and p[2] < 100) / len(after)
        status = page.evaluate("document.getElementById('status').textContent")
        print("viewer_browser: drag changed %.1f%% of the canvas; after: spread %.1f, %d colours, %.1f%% red sphere;"
              " %d preview pictures while dragging; status %r"
              % (100 * changed_fraction, spread, colours, 100 * red, previews, status), flush=True)
        if changed_fraction < 0.02:
            fail("the picture did not change after the drag (%.2f%% of pixels changed)" % (100 * changed_fraction))
        if spread < 10 or colours < 50:
            fail("the picture after the drag is blank (spread %.1f, %d colours)" % (spread, colours))
        if red < 0.005:
            fail("the red sphere is not in the picture after the drag (%.2f%%)" % (100 * red))
        if previews < 1:
            fail("no low-resolution preview was shown while dragging")
        if "render" not in status or "ms" not in status:
            fail("status line lacks the render time: %r" % status)

        # Depth toggle: a different picture, and the status line says so.
        page.evaluate("document.querySelector('input[name=mode][value=depth]').click()")
        page.wait_for("window.nerfeditViewer.state.mode === 'depth'", "depth mode")
        page.wait_idle("the depth picture")
        depth = region_pixels(page.screenshot(os.path.join(args.out, "viewer_depth.png")), canvas)
        depth_changed = sum(1 for a, b in zip(after, depth) if max(abs(a[i] - b[i]) for i in range(3)) > 24)
        if depth_changed / len(depth) < 0.05:
            fail("depth mode shows the same picture as rgb")
        if "depth" not in page.evaluate("document.getElementById('status').textContent"):
            fail("status line does not say depth")

        # Training-camera dropdown snaps to that camera.
        page.evaluate("(() => { const s = document.getElementById('camera-select'); s.value = '2';"
                      " s.dispatchEvent(new Event('change')); })()")
        page.wait_idle("the picture of training camera 2")
        if "camera 2" not in page.evaluate("document.getElementById('status').textContent"):
            fail("the dropdown did not snap to camera 2")

        # A scene with features shows the edit panel (its endpoints are not served yet, so its buttons are disabled).
        server, port = start_server(args.server, args.static, features=True)
        servers.append(server)
        page = open_page(devtools, "http://127.0.0.1:%d/" % port)
        page.wait_idle("the first picture of the feature scene")
        if page.evaluate("document.getElementById('edit-panel').hidden"):
            fail("the edit panel is hidden for a scene with features")
        if not page.evaluate("document.getElementById('edit-delete').disabled"):
            fail("edit buttons are enabled although the server has no /api/edit")
        page.screenshot(os.path.join(args.out, "viewer_features.png"))

        # A real feature-field run with the select-and-edit endpoints.
        started = time.time()
        server, port = start_server(args.server, args.static, features=False,
                                    dff_dir=os.path.join(os.path.abspath(args.out), "viewer_tiny_dff"))
        servers.append(server)
        print("viewer_browser: feature-field run ready in %.0f s" % (time.time() - started), flush=True)
        page = open_page(devtools, "http://127.0.0.1:%d/" % port)
        check_select_and_edit(page, args.out)
        print("viewer_browser: PASS (screenshots in %s)" % args.out, flush=True)
        return 0
    finally:
        if browser:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
        for server in servers:
            server.stdin.close()  # viewer_browser_check serves until its stdin closes
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
