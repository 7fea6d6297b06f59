"""The platform's JSON API end to end, over real HTTPS pinned to the CA the
platform made, on SQLite and on a real PostgreSQL 15: users and tokens from
the CLI, login sessions, 401 without credentials, 403 for a viewer's change,
sensors and their personalization codes, configuration validation and
revisions, the OpenAPI document, bad input, and a restart keeping the CA and
the data."""
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
import platform_test as pt

# What the acceptance checks call; the OpenAPI document must list them.
ENDPOINTS = {
    "/api/v1/login": {"post"}, "/api/v1/logout": {"post"},
    "/api/v1/sensors": {"get", "post"}, "/api/v1/sensors/{id}": {"get", "delete"},
    "/api/v1/sensors/{id}/commands": {"get", "post"}, "/api/v1/sensors/{id}/interfaces": {"get", "put"},
    "/api/v1/config/internal": {"get", "put"}, "/api/v1/config/ip-range-tags": {"get", "put"},
    "/api/v1/config/excluded": {"get", "put"}, "/api/v1/config/monitored": {"get", "put"},
    "/api/v1/config/general": {"get", "put"}, "/api/v1/assets": {"get"}, "/api/v1/assets/{id}": {"get"},
    "/api/v1/events": {"get"}, "/api/v1/openapi.json": {"get"},
}


def one_line_error(r, what):
    lines = [l for l in r.stderr.split("\n") if l.strip()]
    t.check(r.returncode != 0, "%s: exit 0" % what)
    t.check(len(lines) == 1 and lines[0].startswith("tapsense-platform"),
            "%s: expected one line on stderr, got %r" % (what, r.stderr))


def scenario(backend, db):
    work = t.tmpdir("tps-platform-e2e-")
    p = pt.Platform(os.path.join(work, "data"), db=db)
    try:
        # Users and tokens from the CLI.
        p.add_user("admin", "admin", "admin-password")
        p.add_user("watcher", "viewer", "viewer-password")
        one_line_error(p.cli("user", "add", "--name", "x", "--role", "root", input="long-enough\n"), "bad role")
        one_line_error(p.cli("user", "add", "--name", "admin", "--role", "admin", input="long-enough\n"),
                       "duplicate user")
        one_line_error(p.cli("token", "add", "--user", "nobody"), "token for an unknown user")
        admin = p.add_token("admin")
        viewer = p.add_token("watcher")
        t.check(re.fullmatch(r"tps_[0-9a-f]{48}", admin), "token format: %r" % admin)

        p.start()
        t.check(any("CA certificate: " in l and l.split("CA certificate: ")[1].startswith(os.path.abspath(p.ca))
                    for l in p.first_lines), "the CA line: %r" % p.first_lines)
        ca_bytes = open(p.ca, "rb").read()
        # TLS: pinned to ca.pem it verifies (host name 127.0.0.1 in the SAN);
        # the system's CAs do not know this platform.
        try:
            p.request("GET", "/api/v1/sensors", ctx=ssl.create_default_context())
            raise t.Failure("the system trust store accepted the platform's private CA")
        except urllib.error.URLError as e:
            t.check("CERTIFICATE_VERIFY_FAILED" in str(e), "unexpected TLS failure: %s" % e)

        # 401 without credentials, everywhere but login.
        for path in ("/api/v1/sensors", "/api/v1/assets", "/api/v1/events", "/api/v1/openapi.json",
                     "/api/v1/config/general"):
            st, h, body = p.api("GET", path)
            t.check(st == 401, "%s without credentials: %d" % (path, st))
            t.check(body.get("status") == 401 and h.get("Content-Type") == "application/problem+json",
                    "%s: problem details expected, got %r" % (path, body))
        st, _, _ = p.api("GET", "/api/v1/sensors", token="tps_" + "0" * 48)
        t.check(st == 401, "a wrong token: %d" % st)

        # Sessions.
        st, _, _ = p.api("POST", "/api/v1/login", {"name": "admin", "password": "wrong-password"})
        t.check(st == 401, "login with a wrong password: %d" % st)
        st, h, body = p.api("POST", "/api/v1/login", {"name": "admin", "password": "admin-password"})
        t.check(st == 200 and body["role"] == "admin", "login: %d %r" % (st, body))
        cookie_header = h.get("Set-Cookie", "")
        for attr in ("HttpOnly", "Secure", "SameSite=Strict"):
            t.check(attr in cookie_header, "session cookie lacks %s: %r" % (attr, cookie_header))
        cookie = cookie_header.split(";")[0]
        st, _, me = p.api("GET", "/api/v1/me", cookie=cookie)
        t.check(st == 200 and me["name"] == "admin", "session: %d %r" % (st, me))

        # Sensors and personalization codes.
        st, _, s1 = p.api("POST", "/api/v1/sensors", {"name": "PS-AutoVirtual", "location": "Pune"}, cookie=cookie)
        t.check(st == 201, "create a sensor: %d %r" % (st, s1))
        t.check(re.fullmatch(r"[0-9]{14}", s1["personalization_code"]), "code: %r" % s1)
        st, _, s2 = p.api("POST", "/api/v1/sensors", {"name": "PS-AutoPhysical", "location": "Pune"}, token=admin)
        t.check(st == 201 and s2["personalization_code"] != s1["personalization_code"], "second code: %r" % s2)
        st, _, _ = p.api("POST", "/api/v1/sensors", {"name": "PS-AutoVirtual"}, token=admin)
        t.check(st == 409, "a duplicate sensor name: %d" % st)
        st, _, lst = p.api("GET", "/api/v1/sensors", token=viewer)
        t.check(st == 200 and [s["name"] for s in lst["items"]] == ["PS-AutoVirtual", "PS-AutoPhysical"],
                "the list: %r" % lst)
        t.check(all(s["status"] == "Unregistered" for s in lst["items"]), "status: %r" % lst)
        t.check(lst["window"]["not_connected_after_seconds"] == 3 * 30 + 30, "window: %r" % lst["window"])
        for field in ("version", "addresses", "last_checkin", "cpu_percent", "ram_percent", "disk_percent",
                      "network_bits_per_second", "active_assets_1h", "estimated_max_throughput_bps", "interfaces"):
            t.check(field in lst["items"][0], "sensor field %s missing" % field)
        st, _, one = p.api("GET", "/api/v1/sensors/%d" % s1["id"], token=viewer)
        t.check(st == 200 and one["location"] == "Pune", "get a sensor: %d %r" % (st, one))
        st, _, _ = p.api("GET", "/api/v1/sensors/99999", token=viewer)
        t.check(st == 404, "an unknown sensor: %d" % st)
        st, _, _ = p.api("POST", "/api/v1/sensors/%d/commands" % s1["id"], {"command": "pause"}, token=admin)
        t.check(st == 409, "pause an Unregistered sensor: %d" % st)
        st, _, body = p.api("POST", "/api/v1/sensors/%d/commands" % s1["id"], {"command": "explode"}, token=admin)
        t.check(st == 400 and "start_sensing" in body["detail"], "an unknown command: %d %r" % (st, body))

        # A viewer changes nothing.
        for method, path, body in (("POST", "/api/v1/sensors", {"name": "v"}),
                                   ("PUT", "/api/v1/config/general", {}),
                                   ("DELETE", "/api/v1/sensors/%d" % s2["id"], None),
                                   ("POST", "/api/v1/sensors/%d/commands" % s1["id"], {"command": "reboot"})):
            st, _, resp = p.api(method, path, body, token=viewer)
            t.check(st == 403, "viewer %s %s: %d" % (method, path, st))
        st, _, lst2 = p.api("GET", "/api/v1/sensors", token=admin)
        t.check(len(lst2["items"]) == 2, "a viewer's change went through: %r" % lst2)

        # Configuration: validation messages name the field and the value.
        st, _, body = p.api("PUT", "/api/v1/config/excluded",
                            [{"name": "", "ranges": ["10.1.2.3/8"], "macs": ["zz:00"]}], token=admin)
        t.check(st == 400, "invalid excluded: %d" % st)
        detail = body["detail"]
        for want in ("excluded[0].name: required", "10.1.2.3/8", "host bits", "'zz:00' is not a MAC address"):
            t.check(want in detail, "validation message lacks %r: %r" % (want, detail))
        st, _, body = p.api("PUT", "/api/v1/config/internal",
                            [{"name": "office", "ip_range_tags": ["nope"], "type": "roaming"}], token=admin)
        t.check(st == 400 and "no IP-range tag 'nope'" in body["detail"] and "dhcp or static" in body["detail"],
                "internal validation: %r" % body)
        st, _, body = p.api("PUT", "/api/v1/config/general", raw=b"{not json",
                            headers={"Content-Type": "application/json"}, token=admin)
        t.check(st == 400 and "not JSON" in body["detail"], "bad JSON: %d %r" % (st, body))
        st, h, _ = p.api("GET", "/api/v1/config/excluded", token=admin)
        etag = h.get("ETag")
        st, h, body = p.api("PUT", "/api/v1/config/excluded",
                            [{"name": "lab", "ranges": ["10.20.99.0/24"], "macs": ["00-11-22-33-44-55"]}],
                            token=admin, headers={"If-Match": etag})
        t.check(st == 200 and body[0]["macs"] == ["00:11:22:33:44:55"], "excluded: %d %r" % (st, body))
        st, _, _ = p.api("PUT", "/api/v1/config/excluded", [], token=admin, headers={"If-Match": etag})
        t.check(st == 412, "a stale If-Match: %d" % st)
        st, _, body = p.api("PUT", "/api/v1/sensors/%d/interfaces" % s1["id"],
                            [{"name": "eth1", "mode": "ERSPAN"}], token=admin)
        t.check(st == 400 and "erspan_address" in body["detail"], "ERSPAN without an address: %r" % body)
        st, _, body = p.api("PUT", "/api/v1/sensors/%d/interfaces" % s1["id"],
                            [{"name": "eth1", "mode": "ERSPAN", "erspan_address": "192.0.2.50"}], token=admin)
        t.check(st == 200, "interfaces: %d %r" % (st, body))
        st, _, cfg = p.api("GET", "/api/v1/sensors/%d/config" % s1["id"], token=viewer)
        t.check('[[excluded]]\nname = "lab"' in cfg["toml"] and 'erspan_address = "192.0.2.50"' in cfg["toml"],
                "the sensor's TOML: %r" % cfg)

        # The OpenAPI document.
        st, _, doc = p.api("GET", "/api/v1/openapi.json", token=viewer)
        t.check(st == 200 and doc["openapi"].startswith("3."), "openapi: %d" % st)
        for path, methods in ENDPOINTS.items():
            t.check(path in doc["paths"], "openapi lacks %s" % path)
            t.check(methods <= set(doc["paths"][path]), "openapi %s lacks %s" % (path, methods))

        # Bad input on the sensor side: one text line, 400.
        st, h, body = p.request("POST", "/sensor/v1/register", b"\xff\x00garbage",
                                {"Content-Type": "application/x-capnp-packed"})
        t.check(st == 400 and body.count(b"\n") == 1, "malformed capnp: %d %r" % (st, body))
        st, _, body = p.request("POST", "/sensor/v1/checkin", b"", {})
        t.check(st == 401, "check-in without a credential: %d" % st)

        # Logout ends the session; Unregistered sensors can be deleted.
        st, _, _ = p.api("POST", "/api/v1/logout", cookie=cookie)
        t.check(st == 204, "logout: %d" % st)
        st, _, _ = p.api("GET", "/api/v1/me", cookie=cookie)
        t.check(st == 401, "after logout: %d" % st)
        st, _, _ = p.api("DELETE", "/api/v1/sensors/%d" % s2["id"], token=admin)
        t.check(st == 204, "delete an Unregistered sensor: %d" % st)

        # A restart keeps the CA (sensors pinned it) and the data.
        t.check(p.stop() == 0, "the platform did not exit 0 on SIGTERM")
        p.start()
        t.check(open(p.ca, "rb").read() == ca_bytes, "the CA changed across a restart")
        st, _, lst3 = p.api("GET", "/api/v1/sensors", token=admin)
        t.check(st == 200 and [s["name"] for s in lst3["items"]] == ["PS-AutoVirtual"], "after restart: %r" % lst3)
        print("%s: all checks passed" % backend)
    finally:
        p.stop()
        shutil.rmtree(work, ignore_errors=True)


def run():
    if not os.path.exists(pt.PLATFORM):
        t.skip("build/bin/tapsense-platform not built")
    scenario("sqlite", None)
    pg = pt.Postgres()
    try:
        if not pg.running:
            t.skip("sqlite passed; postgresql not run: " + pg.why)
        scenario("postgresql", pg.new_database())
    finally:
        pg.stop()


t.main(run)
