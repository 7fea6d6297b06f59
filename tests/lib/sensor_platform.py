"""A real platform (tapsense-platform serve) on loopback for the sensor's
platform tests, and what they call: the JSON API with a token, the sensor
supervisor, one-line checks. Exit codes: README "Exit codes"."""
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import tapsense_test as t

FIELDS = ("ip", "mac", "hostname", "vendor", "os", "device_type")

PLATFORM = os.path.join(t.BIN, "tapsense-platform")
# Exit codes (README "Exit codes"; common/platform/client.h).
CODE_UNKNOWN, UNREACHABLE, TLS, DEREGISTERED, UNACKED, PAUSED = 80, 83, 84, 86, 87, 88


free_port = t.free_port


class Platform:
    def __init__(self, work, poll_seconds=2):
        self.poll_seconds = poll_seconds
        self.data = os.path.join(work, "platform")
        os.makedirs(self.data)
        subprocess.run([PLATFORM, "user", "add", "--data", self.data, "--name", "admin", "--role", "admin"],
                       input="correct horse battery staple\n", text=True, check=True, capture_output=True)
        self.token = subprocess.run([PLATFORM, "token", "add", "--data", self.data, "--user", "admin"], text=True,
                                    check=True, capture_output=True).stdout.strip()
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(work, "platform.log"), "a")
        self.start()

    def start(self):
        # A short poll so that the sensor's check-ins come often.
        self.proc = subprocess.Popen([PLATFORM, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port,
                                      "--poll-seconds", str(self.poll_seconds)], stdout=self.log, stderr=subprocess.STDOUT)
        self.ca = os.path.join(self.data, "ca.pem")
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise t.Failure("tapsense-platform exited %d; see %s" % (self.proc.returncode, self.log.name))
            if os.path.exists(self.ca):
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.2)
        else:
            raise t.Failure("tapsense-platform did not listen on %s" % self.url)
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def api(self, method, path, body=None, expect=(200, 201, 204)):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        t.check(status in expect, "%s %s answered %d: %s" % (method, path, status, text))
        return json.loads(text) if text else None

    def sensor(self, sid):
        return self.api("GET", "/api/v1/sensors/%d" % sid)

    def assets(self, sid):
        return self.api("GET", "/api/v1/assets?sensor=%d&limit=5000" % sid)["items"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def canonical(assets):
    return sorted(tuple(a.get(k) or "" for k in FIELDS) for a in assets)


def supervisor(*args, timeout=300):
    return subprocess.run([t.SUPERVISOR, *args], capture_output=True, text=True, timeout=timeout)


def one_line(p, what):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    t.check(len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, p.stderr))
    return lines[0]


def wait_for(what, fn, timeout=60, every=0.3):
    """fn() until it returns something true; a Failure naming `what` after timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise t.Failure("timed out waiting for %s (last: %r)" % (what, last))
