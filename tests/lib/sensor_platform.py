"""A real platform (tapsense-platform serve) on loopback for the sensor's
platform tests, and what they call: the JSON API with a token, the sensor
supervisor, one-line checks. Exit codes: README "Exit codes"."""
import os
import subprocess
import time
import urllib.error
import urllib.request

import platform_test
import tapsense_test as t

FIELDS = ("ip", "mac", "hostname", "vendor", "os", "device_type")

PLATFORM = platform_test.PLATFORM
# Exit codes (README "Exit codes"; common/platform/client.h).
CODE_UNKNOWN, UNREACHABLE, TLS, DEREGISTERED, UNACKED, PAUSED = 80, 83, 84, 86, 87, 88


free_port = t.free_port


class Platform(platform_test.Platform):
    """platform_test.Platform with an admin and its API token, on a port
    fixed for its life (a sensor registered with its URL finds it again
    after a restart), its output in WORK/platform.log; started."""

    def __init__(self, work, poll_seconds=2):
        data = os.path.join(work, "platform")
        os.makedirs(data)
        super().__init__(data, poll_seconds=poll_seconds)
        self.add_user("admin", "admin", "correct horse battery staple")
        self.token = self.add_token("admin")
        self.port = free_port()
        self.log = open(os.path.join(work, "platform.log"), "a")
        self.start()

    def start(self):
        # A short poll so that the sensor's check-ins come often.
        super().start(port=self.port, log=self.log)
        self.ctx = self.context()
        return self

    def api(self, method, path, body=None, expect=(200, 201, 204)):
        status, _, answer = super().api(method, path, body, token=self.token)
        t.check(status in expect, "%s %s answered %d: %s" % (method, path, status, answer))
        return answer

    def sensor(self, sid):
        return self.api("GET", "/api/v1/sensors/%d" % sid)

    def assets(self, sid):
        return self.api("GET", "/api/v1/assets?sensor=%d&limit=5000" % sid)["items"]


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
