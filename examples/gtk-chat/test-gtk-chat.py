#!/usr/bin/python3
# test-gtk-chat.py: drives the GTK chat client as a person would. Speaks TAP.
#
#   test-gtk-chat.py CHAT_SERVER_EXE SOURCE_DIR [SCREENSHOT.png]
#
# Under its own X server (Xvfb) and session bus (dbus-run-session): starts
# the C chat server on a free port and the application, connects through
# the application's actions on the bus, checks with a second, scripted
# client that lines go both ways, reads what the window shows through
# accessibility (AT-SPI), floods 10,000 lines while measuring how long the
# application's main loop stalls, stops the server and checks that the
# window shows the disconnected state. Skips, saying why, only when Xvfb,
# GTK 4 or AT-SPI is missing.
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

APP_ID = "io.github.achat.Chat"
APP_PATH = "/io/github/achat/Chat"
TIMEOUT = 20


def skip_all(reason):
    print("1..0 # SKIP " + reason)
    sys.exit(0)


def missing():
    for tool in ("Xvfb", "dbus-run-session"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = ("import gi; gi.require_version('Gtk', '4.0'); gi.require_version('Atspi', '2.0'); "
             "from gi.repository import Gtk, Atspi; import pyatspi")
    # A capability check, not code under test: without the sanitizer
    # runtime the ASan setup preloads (whose leak check would fail it).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, env=env).returncode != 0:
        return "GTK 4 or AT-SPI (gir1.2-gtk-4.0, python3-pyatspi) is not installed"
    return None


class Failed(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failed(what)


def wait_until(condition, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out waiting for {what}")
        time.sleep(0.05)


class Client:
    """The second, scripted chat client."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_line_with(self, needle):
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if needle in line:
                    return line.rstrip(b"\r")
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Failed(f"the second client never got a line with {needle!r}")
            if not chunk:
                raise Failed(f"the server closed before a line with {needle!r}")
            self.buffer += chunk


def main():
    from gi.repository import Gio, GLib
    import pyatspi

    server_exe, srcdir = sys.argv[1], sys.argv[2]
    screenshot = sys.argv[3] if len(sys.argv) > 3 else None
    results = []
    processes = []

    def ok(condition, what):
        results.append((bool(condition), what))

    # An X server on a display it picks.
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24",
                             "-nolisten", "tcp"], pass_fds=[write_fd],
                            stderr=subprocess.DEVNULL)
    processes.append(xvfb)
    os.close(write_fd)
    display_number = b""
    while not display_number.endswith(b"\n"):
        chunk = os.read(read_fd, 64)
        if not chunk:
            raise SystemExit("Xvfb did not start")
        display_number += chunk
    os.close(read_fd)
    display = ":" + display_number.decode().strip()

    def x_accepts():
        with socket.socket(socket.AF_UNIX) as x:
            try:
                x.connect(f"/tmp/.X11-unix/X{display[1:]}")
                return True
            except OSError:
                return False

    wait_until(x_accepts, "the X server to accept connections")

    server = subprocess.Popen([server_exe, "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    processes.append(server)
    port = int(server.stdout.readline().decode().rsplit(":", 1)[1])

    env = dict(os.environ, DISPLAY=display, GDK_BACKEND="x11", GTK_A11Y="atspi",
               GSETTINGS_BACKEND="memory", NO_AT_BRIDGE="0")
    if os.environ.get("ACHAT_GTK_TEST_PRELOAD"):
        # Memory errors only: GTK and Python keep much until exit, and full
        # stack unwinding on every allocation makes GTK too slow to test.
        env["LD_PRELOAD"] = os.environ["ACHAT_GTK_TEST_PRELOAD"]
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    app = subprocess.Popen(["/usr/bin/python3", os.path.join(srcdir, "achat-chat.py")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    processes.append(app)

    bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)

    def has_owner():
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "NameHasOwner",
                              GLib.Variant("(s)", (APP_ID,)), None, 0, -1, None)
        return reply.unpack()[0]

    def activate(action, parameter=None):
        params = [GLib.Variant("s", parameter)] if parameter is not None else []
        bus.call_sync(APP_ID, APP_PATH, "org.gtk.Actions", "Activate",
                      GLib.Variant("(sava{sv})", (action, params, {})), None, 0, 5000, None)

    def main_loop_latency():
        start = time.monotonic()
        bus.call_sync(APP_ID, APP_PATH, "org.gtk.Actions", "List", None, None, 0, 60000, None)
        return time.monotonic() - start

    def app_texts():
        """Every accessible name and text the application's window shows."""
        texts = []
        desktop = pyatspi.Registry.getDesktop(0)
        for accessible_app in desktop:
            if accessible_app is None or accessible_app.name not in ("achat chat", "achat-chat.py"):
                continue
            stack = [accessible_app]
            while stack:
                node = stack.pop()
                if node is None:
                    continue
                if node.name:
                    texts.append(node.name)
                try:
                    text = node.queryText()
                    texts.append(text.getText(0, text.characterCount))
                except NotImplementedError:
                    pass
                # The window changes while it is walked (lines keep coming):
                # a child gone since childCount was read is skipped, and the
                # callers poll until what they look for is there.
                for i in range(node.childCount):
                    try:
                        stack.append(node[i])
                    except IndexError:
                        break
        return texts

    def window_shows(needle):
        return any(needle in t for t in app_texts())

    try:
        wait_until(has_owner, "the application on the session bus")
        ok(True, "the application starts and owns io.github.achat.Chat on the session bus")

        # A port nobody listens on: a clear message, no crash.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        activate("connect", f"127.0.0.1:{closed_port} alice")
        wait_until(lambda: window_shows("refused the connection"), "the refusal message")
        ok(True, "a refused connection is explained in the window")

        activate("connect", "nonexistent.invalid:7000 alice")
        wait_until(lambda: window_shows("could not be found"), "the unknown host message")
        ok(True, "a host that does not resolve is explained in the window")

        # Connect through the application's action, as a launcher or a script would.
        activate("connect", f"127.0.0.1:{port} alice")
        wait_until(lambda: window_shows("* alice joined"), "the window to show alice joining")
        bob = Client(port)
        bob.send(b"NICK bob\r\n")
        bob.read_line_with(b"* bob joined")
        wait_until(lambda: window_shows("* bob joined"), "the window to show bob joining")
        ok(True, "connect: the window shows who joined (read through AT-SPI)")

        activate("send", "hello from alice")
        line = bob.read_line_with(b"hello from alice")
        ok(line == b"<alice> hello from alice", f"send: the other client got {line!r}")

        bob.send("hi alice, ça va ?\r\n".encode())
        wait_until(lambda: window_shows("<bob> hi alice, ça va ?"), "bob's line in the window")
        ok(True, "a line from the other client appears in the window, with who said it")

        if screenshot:
            time.sleep(0.5)
            run = subprocess.run(["import", "-display", display, "-window", "root",
                                  "-crop", "560x480+0+0", "+repage", screenshot],
                                 capture_output=True)
            ok(run.returncode == 0 and os.path.getsize(screenshot) > 10000,
               f"screenshot of the real window in {screenshot}")

        # 10,000 lines in one burst: how long does the window's main loop stall?
        # A thread asks the application something every 2 ms; each answer
        # waits for its main loop, so the slowest one is the longest stall.
        burst = b"".join(b"flood line %05d\r\n" % i for i in range(10000))
        latencies = []
        probing = threading.Event()
        probing.set()

        def probe():
            while probing.is_set():
                latencies.append(main_loop_latency())
                time.sleep(0.002)

        prober = threading.Thread(target=probe)
        prober.start()
        time.sleep(0.1)
        bob.send(burst)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not window_shows("<bob> flood line 09999"):
            time.sleep(0.05)
        time.sleep(0.2)
        probing.clear()
        prober.join()
        worst = max(latencies)
        print(f"# {len(latencies)} probes during the burst; median "
              f"{sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms, worst {worst * 1000:.1f} ms")
        ok(window_shows("<bob> flood line 09999"),
           f"a 10,000-line burst is shown in full; longest main loop stall {worst * 1000:.0f} ms")
        ok(worst < 1.0, f"the window never froze for a second or more ({worst * 1000:.0f} ms)")

        # The server goes away: the window says so and offers to reconnect.
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=TIMEOUT)
        wait_until(lambda: window_shows("Disconnected:"), "the disconnected state")
        ok(window_shows("Reconnect"), "the server stops: the window shows it is disconnected, "
                                      "with a Reconnect button")

        # The server comes back on the same port: Reconnect joins again.
        server = subprocess.Popen([server_exe, str(port)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        processes.append(server)
        server.stdout.readline()
        carol = Client(port)
        carol.send(b"NICK carol\r\n")
        carol.read_line_with(b"* carol joined")
        activate("reconnect")
        carol.read_line_with(b"* alice joined")
        carol.send(b"welcome back\r\n")
        wait_until(lambda: window_shows("<carol> welcome back"), "carol's line after the reconnect")
        ok(True, "Reconnect: the application rejoins the restarted server and talks again")

        activate("quit")
        status = app.wait(timeout=TIMEOUT)
        stderr = app.stderr.read().decode(errors="replace")
        sys.stderr.write(stderr)
        ok(status == 0, f"app.quit: the application exits with status 0 (it exited with {status})")
    except Failed as failure:
        ok(False, str(failure))
        try:
            names = [a.name for a in pyatspi.Registry.getDesktop(0) if a is not None]
            print(f"# accessible applications: {names}")
            print(f"# the window shows: {app_texts()[:40]}")
        except Exception as error:   # diagnostics only
            print(f"# no AT-SPI diagnostics: {error}")
        if app.poll() is not None:
            tail = app.stderr.read().decode(errors="replace")[-2000:]
            print("# the application exited with %s:\n# " % app.returncode + tail.replace("\n", "\n# "))
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()

    print(f"1..{len(results)}")
    for number, (passed, what) in enumerate(results, 1):
        print(f"{'ok' if passed else 'not ok'} {number} - {what}")
    return 0 if all(passed for passed, _ in results) else 1


if __name__ == "__main__":
    reason = missing()
    if reason:
        skip_all(reason)
    if os.environ.get("ACHAT_GTK_TEST_SESSION") != "1":
        # Our own session bus (with the accessibility bus it starts on demand).
        os.environ["ACHAT_GTK_TEST_SESSION"] = "1"
        # Under the sanitizer setup only the application (which loads the
        # sanitized library) gets the runtime preloaded, not the X server,
        # the bus or ImageMagick.
        os.environ["ACHAT_GTK_TEST_PRELOAD"] = os.environ.pop("LD_PRELOAD", "")
        # The bus and the services it activates (the AT-SPI registry) talk
        # on their standard output; only TAP may go there. They get our
        # stderr, and the test writes TAP to a copy of the real stdout.
        tap_fd = os.dup(1)
        os.set_inheritable(tap_fd, True)
        os.dup2(2, 1)
        os.environ["ACHAT_GTK_TEST_TAP_FD"] = str(tap_fd)
        os.execvp("dbus-run-session", ["dbus-run-session", "--", "/usr/bin/python3"] + sys.argv)
    if "ACHAT_GTK_TEST_TAP_FD" in os.environ:
        sys.stdout = os.fdopen(int(os.environ.pop("ACHAT_GTK_TEST_TAP_FD")), "w", buffering=1)
    sys.exit(main())
