"""A registered sensor reaching its platform through a corporate proxy, as the
guide's "Proxy Configuration" has it: a real Squid 5 on loopback, started by
this test, with no authentication, with Basic (basic_ncsa_auth and an
htpasswd file) and with NTLM (ntlm_fake_auth). Through each, the sensor
registers (none), runs the sample capture offline, and the platform's assets
equal the sensor's assets.json; Squid's access log shows the sensor's CONNECT
tunnels (with the user for Basic and NTLM), so the traffic did go through it
and TLS stayed end to end. A wrong Basic password is one line and exit 89; a
proxy that terminates TLS itself (SSL bump: Debian's Squid is built without
OpenSSL, so a small interceptor of this test answers the CONNECT and then TLS
with a certificate of its own CA) is one line and exit 90, the sensor never
trusting it; a proxy that is not there is exit 83."""
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, free_port, one_line, supervisor, UNREACHABLE

SQUID = "/usr/sbin/squid"
HELPERS = "/usr/lib/squid"
PROXY_AUTH, PROXY_INTERCEPTS = 89, 90


class Squid:
    def __init__(self, work, name, auth):
        self.dir = os.path.join(work, "squid-" + name)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o777)  # squid runs as its own user when started by root
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        lines = [
            "http_port 127.0.0.1:%d" % self.port,
            "pid_filename %s/squid.pid" % self.dir,
            "cache_log %s/cache.log" % self.dir,
            "access_log stdio:%s/access.log squid" % self.dir,
            "cache_store_log none",
            "coredump_dir %s" % self.dir,
            "netdb_filename none",
            "cache deny all",
            "shutdown_lifetime 0 seconds",
            "acl CONNECT method CONNECT",
        ]
        if auth == "basic":
            htpasswd = os.path.join(self.dir, "htpasswd")
            hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret pass"], capture_output=True, text=True,
                                    check=True).stdout.strip()
            with open(htpasswd, "w") as f:
                f.write("alice:%s\n" % hashed)
            os.chmod(htpasswd, 0o644)
            lines += ["auth_param basic program %s/basic_ncsa_auth %s" % (HELPERS, htpasswd),
                      "auth_param basic realm tapsense-test",
                      "acl authed proxy_auth REQUIRED",
                      "http_access allow CONNECT authed"]
        elif auth == "ntlm":
            lines += ["auth_param ntlm program %s/ntlm_fake_auth" % HELPERS,
                      "auth_param ntlm children 2",
                      "acl authed proxy_auth REQUIRED",
                      "http_access allow CONNECT authed"]
        else:
            lines += ["http_access allow CONNECT localhost"]
        lines += ["http_access deny all"]
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.err = open(os.path.join(self.dir, "squid.err"), "w")
        self.proc = subprocess.Popen([SQUID, "-N", "-f", self.conf], stdout=self.err, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise t.Failure("squid exited %d; see %s" % (self.proc.returncode, self.err.name))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise t.Failure("squid did not listen on %s" % self.url)

    def connects(self):
        """(user, target) of each CONNECT the access log holds."""
        path = os.path.join(self.dir, "access.log")
        out = []
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 8 and p[5] == "CONNECT":
                        out.append((p[7], p[6], p[3]))
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


class Interceptor:
    """An SSL-bumping proxy: answers CONNECT, then terminates TLS itself with
    a certificate for the platform's address signed by its own CA."""

    def __init__(self, work):
        d = os.path.join(work, "bump")
        os.makedirs(d)
        run = lambda *c: subprocess.run(list(c), capture_output=True, check=True, cwd=d)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=Corporate interception CA")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "leaf.pem", "-days", "1", "-extfile", "san.ext")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(d, "leaf.pem"), os.path.join(d, "leaf.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.connects = []
        self.handshakes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        try:
            c.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.connects.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            s = self.ctx.wrap_socket(c, server_side=True)
            self.handshakes += 1
            s.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def stop(self):
        self.sock.close()


def config_text(state, proxy=None, auth="none", user="", password=""):
    text = '[sensor]\nname = "proxied-1"\nstate_dir = "%s"\n' % state
    if proxy:
        text += '[uplink]\nproxy = "%s"\nproxy_auth = "%s"\n' % (proxy, auth)
        if user:
            text += 'proxy_user = "%s"\nproxy_password = "%s"\n' % (user, password)
    return text


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    if not os.access(SQUID, os.X_OK):
        t.skip("squid is not installed (deploy/install-deps.sh installs it)")
    t.need("openssl")
    work = t.tmpdir()
    os.chmod(work, 0o755)
    sample, _ = t.sample_capture(work, 1)
    state = os.path.join(work, "state")
    plat = Platform(work)
    platform_target = "127.0.0.1:%d" % plat.port
    proxies = []
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "proxied-1", "location": "behind a proxy"})
        sid, code = created["id"], created["personalization_code"]

        # --- a configured proxy that is not there: unreachable, the proxy named ----------
        cfgdir = os.path.join(work, "cfg-none")
        os.makedirs(cfgdir)
        dead = "http://127.0.0.1:%d" % free_port()
        config = t.write_config(cfgdir, config_text(state, dead))
        p = supervisor("--register", code, "--platform", plat.url, "--ca", plat.ca, "--config", config)
        t.check(p.returncode == UNREACHABLE, "dead proxy: exit %d (expected %d): %s" % (p.returncode, UNREACHABLE, p.stderr))
        t.check("proxy" in one_line(p, "dead proxy"), "dead proxy: %r" % p.stderr)

        # --- no authentication: register and report through Squid ------------------------
        squid = Squid(work, "none", "none")
        proxies.append(squid)
        config = t.write_config(cfgdir, config_text(state, squid.url))
        p = supervisor("--register", code, "--platform", plat.url, "--ca", plat.ca, "--config", config)
        t.check(p.returncode == 0, "register through squid: exit %d: %s" % (p.returncode, p.stderr))
        assets, _, _ = t.run_sensor(sample, os.path.join(work, "out-none"), config=config)
        t.check(canonical(plat.assets(sid)) == canonical(assets), "through squid (no auth): platform assets differ")
        tunnels = [c for c in squid.connects() if c[1] == platform_target]
        # register, the first and last check-ins, at least one report
        t.check(len(tunnels) >= 4, "squid saw %d CONNECT to the platform: %s" % (len(tunnels), squid.connects()))
        t.check(all("/200" in c[2] for c in tunnels), "a CONNECT was not tunnelled: %s" % tunnels)
        squid.stop()

        # --- Basic: the right password, then a wrong one ----------------------------------
        squid = Squid(work, "basic", "basic")
        proxies.append(squid)
        cfgdir = os.path.join(work, "cfg-basic")
        os.makedirs(cfgdir)
        config = t.write_config(cfgdir, config_text(state, squid.url, "basic", "alice", "s3cret pass"))
        assets, _, _ = t.run_sensor(sample, os.path.join(work, "out-basic"), config=config)
        t.check(canonical(plat.assets(sid)) == canonical(assets), "through squid (basic): platform assets differ")
        users = {c[0] for c in squid.connects() if c[1] == platform_target and "/200" in c[2]}
        t.check(users == {"alice"}, "basic: tunnels opened for %s, not alice" % users)
        bad = t.write_config(os.path.join(work, "cfg-basic"),
                             config_text(state, squid.url, "basic", "alice", "wrong password"))
        other = plat.api("POST", "/api/v1/sensors", {"name": "other", "location": "behind a proxy"})
        p = supervisor("--register", other["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                       "--config", bad)
        line = one_line(p, "wrong proxy password")
        t.check(p.returncode == PROXY_AUTH, "wrong proxy password: exit %d (expected %d): %s" %
                (p.returncode, PROXY_AUTH, p.stderr))
        t.check("407" in line and "proxy" in line, "wrong proxy password: %r" % line)
        _, _, p = t.run_sensor(sample, os.path.join(work, "out-basic-bad"), config=bad, expect_rc=PROXY_AUTH)
        t.check("proxy" in one_line(p, "run with a wrong proxy password"), "%r" % p.stderr)
        squid.stop()

        # --- NTLM ---------------------------------------------------------------------
        squid = Squid(work, "ntlm", "ntlm")
        proxies.append(squid)
        cfgdir = os.path.join(work, "cfg-ntlm")
        os.makedirs(cfgdir)
        config = t.write_config(cfgdir, config_text(state, squid.url, "ntlm", "bob", "any"))
        assets, _, _ = t.run_sensor(sample, os.path.join(work, "out-ntlm"), config=config)
        t.check(canonical(plat.assets(sid)) == canonical(assets), "through squid (ntlm): platform assets differ")
        ok = [c for c in squid.connects() if c[1] == platform_target and "/200" in c[2]]
        t.check(ok and all("bob" in c[0].lower() for c in ok), "ntlm: tunnels %s" % squid.connects())
        squid.stop()

        # --- SSL bump: refused, never trusted -------------------------------------------
        bump = Interceptor(work)
        proxies.append(bump)
        cfgdir = os.path.join(work, "cfg-bump")
        os.makedirs(cfgdir)
        config = t.write_config(cfgdir, config_text(state, bump.url))
        third = plat.api("POST", "/api/v1/sensors", {"name": "third", "location": "behind a bump"})
        p = supervisor("--register", third["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                       "--config", config)
        line = one_line(p, "ssl bump")
        t.check(p.returncode == PROXY_INTERCEPTS, "ssl bump: exit %d (expected %d): %s" %
                (p.returncode, PROXY_INTERCEPTS, p.stderr))
        t.check("SSL bump" in line, "ssl bump: %r" % line)
        t.check(bump.connects and bump.connects[0].startswith("CONNECT " + platform_target),
                "the interceptor saw no CONNECT: %s" % bump.connects)
        t.check(plat.sensor(third["id"])["status"] == "Unregistered", "the bumped registration reached the platform")
        _, _, p = t.run_sensor(sample, os.path.join(work, "out-bump"), config=config, expect_rc=PROXY_INTERCEPTS)
        t.check("SSL bump" in one_line(p, "run through ssl bump"), "%r" % p.stderr)
        print("proxy: registration and reports through squid with none, basic and ntlm (platform assets equal "
              "assets.json, %d assets); wrong password exit %d; ssl bump refused exit %d; no proxy exit %d" %
              (len(assets), PROXY_AUTH, PROXY_INTERCEPTS, UNREACHABLE))
    finally:
        for x in proxies:
            try:
                x.stop()
            except Exception:
                pass
        plat.stop()
        plat.log.close()


t.main(run)
