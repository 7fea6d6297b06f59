"""Helpers for tests that need the platform (tapsense-platform) or a real
PostgreSQL 15: start either on loopback / a unix socket, call the JSON API
over HTTPS pinned to the platform's own CA (DIR/ca.pem), stop them.

    pg = Postgres()            # pg.why says why it cannot run (not root, no postgresql-15)
    url = pg.new_database()    # postgresql://postgres@/tN?host=SOCKDIR
    p = Platform(data_dir, db=url)
    p.add_user("admin", "admin", "secret-pass"); tok = p.add_token("admin")
    p.start(); status, headers, body = p.api("GET", "/api/v1/sensors", token=tok); p.stop()
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import tapsense_test as t

PLATFORM = os.path.join(t.BIN, "tapsense-platform")
PG_BIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A throwaway PostgreSQL 15 cluster run as user postgres (tests run as
    root), listening on a unix socket only."""

    def __init__(self):
        self.dir = None
        self.why = None
        self.n = 0
        if os.geteuid() != 0:
            self.why = "PostgreSQL tests need root (they run initdb as user postgres)"
            return
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            self.why = "Debian's postgresql-15 is not installed (%s)" % PG_BIN
            return
        self.dir = tempfile.mkdtemp(prefix="tps-pg-")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        shutil.chown(self.dir, "postgres")
        shutil.chown(self.sock, "postgres")
        data = os.path.join(self.dir, "data")
        r = subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/initdb", "-D", data, "-A", "trust",
                            "-U", "postgres", "--no-sync"], capture_output=True, text=True)
        if r.returncode != 0:
            self.why = "initdb failed: " + r.stderr.strip().splitlines()[-1:][0] if r.stderr.strip() else "initdb failed"
            return
        r = subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", data, "-w",
                            "-l", os.path.join(self.dir, "pg.log"),
                            "-o", "-c listen_addresses='' -k %s -c fsync=off" % self.sock, "start"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.why = "pg_ctl start failed (see %s/pg.log)" % self.dir
            return
        self.started = True

    @property
    def running(self):
        return self.why is None

    def new_database(self):
        self.n += 1
        name = "t%d" % self.n
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/createdb", "-h", self.sock, name],
                       check=True, capture_output=True)
        return "postgresql://postgres@/%s?host=%s" % (name, self.sock)

    def stop(self):
        if self.dir is None:
            return
        if self.why is None:
            subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D",
                            os.path.join(self.dir, "data"), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


class Platform:
    """tapsense-platform serve on a free loopback port (it binds :0 and says
    which port it got)."""

    def __init__(self, data, db=None, poll_seconds=None):
        self.data = data
        self.db = db
        self.poll_seconds = poll_seconds
        self.proc = None
        self.port = None
        self.ca = os.path.join(data, "ca.pem")
        self.first_lines = []
        self._ctx = None

    def _db_args(self):
        return ["--db", self.db] if self.db else []

    def cli(self, *args, input=None):
        return subprocess.run([PLATFORM, *args, "--data", self.data, *self._db_args()], input=input,
                              capture_output=True, text=True, timeout=60)

    def add_user(self, name, role, password):
        r = self.cli("user", "add", "--name", name, "--role", role, input=password + "\n")
        t.check(r.returncode == 0, "user add %s: exit %d: %s" % (name, r.returncode, r.stderr))

    def add_token(self, user):
        r = self.cli("token", "add", "--user", user)
        t.check(r.returncode == 0, "token add %s: exit %d: %s" % (user, r.returncode, r.stderr))
        return r.stdout.strip()

    def start(self, extra=(), env=None, port=None, log=None):
        """extra: more serve options; env: more environment variables
        (e.g. TAPSENSE_PLATFORM_CLOCK_FILE); port: listen there instead of
        a port of the kernel's choice (a sensor registered with the URL finds
        a restarted platform again); log: an open file for its output
        instead of pipes (a platform that runs long writes more than a pipe
        holds)."""
        cmd = [PLATFORM, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % (port or 0), *self._db_args()]
        if self.poll_seconds:
            cmd += ["--poll-seconds", str(self.poll_seconds)]
        cmd += list(extra)
        self._ctx = None
        out = log if log else subprocess.PIPE
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE,
                                     text=True, env=dict(os.environ, **env) if env else None)
        self.first_lines = []
        if log:
            self.port = port
            deadline = time.time() + 30
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise t.Failure("tapsense-platform exited %d; see %s" % (self.proc.returncode, log.name))
                if os.path.exists(self.ca):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        return self
                    except OSError:
                        pass
                time.sleep(0.2)
            raise t.Failure("tapsense-platform did not listen on %s" % self.url)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read()
                raise t.Failure("platform exited before listening: %s" % err.strip())
            self.first_lines.append(line.rstrip("\n"))
            if line.startswith("listening on https://127.0.0.1:"):
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        return self

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def context(self):
        """The TLS context pinned to the platform's CA, made once per start."""
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=self.ca)
        return self._ctx

    def request(self, method, path, data=None, headers=None, ctx=None):
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=ctx or self.context(), timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, method, path, body=None, token=None, cookie=None, headers=None, raw=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if cookie:
            h["Cookie"] = cookie
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        status, rh, payload = self.request(method, path, data, h)
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode(errors="replace")
        return status, rh, parsed

    def stop(self):
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self.proc = None
        return rc
