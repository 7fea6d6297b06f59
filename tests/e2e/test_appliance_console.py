"""The appliance console (deploy/appliance/tapsense-console) driven as a user
would on the appliance's tty: a tmux terminal, keys sent with send-keys, the
screen read with capture-pane. Against a real platform on loopback
(tapsense-platform serve): a wrong personalization code shows the
supervisor's one-line error and leaves the sensor Unregistered; the real code
shows "Appliance registration completed successfully", the menu's status
turns Registered and the platform says Registered too. Set up Network: a
gateway outside the network is refused with a message and nothing written;
a static address writes the systemd-networkd file (content checked) and
resolv.conf, and Show displays it. Proxy Configuration writes the [uplink]
proxy keys into the sensor's TOML (parsed back; the rest of the file kept).
System Shutdown runs the power-off command. Nothing outside the test's
directory changes (--root)."""
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform

CONSOLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "appliance",
                       "tapsense-console")


class Tty:
    def __init__(self, work, command):
        self.sock = "tapsense-console-%d" % os.getpid()
        self.tmux("new-session", "-d", "-x", "100", "-y", "32", command)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True)

    def screen(self):
        return self.tmux("capture-pane", "-p").stdout

    def keys(self, *keys):
        self.tmux("send-keys", *keys)
        time.sleep(0.15)

    def type(self, text):
        if text:
            self.tmux("send-keys", "-l", text)
        self.keys("Enter")

    def wait(self, text, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.screen()
            # A message wraps inside the box: compare with the box's text joined.
            flat = " ".join(s.replace("\u2502", " ").split())
            if text in s or text in flat:
                return s
            time.sleep(0.1)
        raise t.Failure("the console did not show %r; the screen:\n%s" % (text, self.screen()))

    def alive(self):
        return self.tmux("has-session").returncode == 0

    def close(self):
        self.tmux("kill-server")


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    for tool in ("tmux", "whiptail"):
        t.need(tool)
    work = t.tmpdir()
    root = os.path.join(work, "root")
    state = os.path.join(work, "state")
    config = os.path.join(root, "etc", "tapsense", "tapsense.toml")
    os.makedirs(os.path.dirname(config))
    with open(config, "w") as f:
        f.write('[sensor]\nname = "appliance-1"\nstate_dir = "%s"\n\n[uplink]\n# kept by the console\n'
                'proxy = ""\nspool_mb = 500\n' % state)
    powered_off = os.path.join(work, "powered-off")
    plat = Platform(work)
    tty = None
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "appliance-1", "location": "Lab"})
        sid, code = created["id"], created["personalization_code"]
        cmd = " ".join(shlex.quote(a) for a in [
            CONSOLE, "--root", root, "--interface", "mgmt0", "--service", "", "--supervisor", t.SUPERVISOR,
            "--poweroff", "touch " + powered_off])
        # The pane stays after the console exits, so its last screen can be read.
        tty = Tty(work, cmd + "; echo console-exit=$?; sleep 600")
        tty.wait("Status: Unregistered")

        def personalize(digits, ca=plat.ca):
            tty.keys("Home", "Down", "Enter")   # Personalize this scanner
            tty.wait("Enter the 14 digit personalization code")
            tty.type(digits)
            if len(digits) != 14:
                return
            tty.wait("Platform URL")
            tty.keys("C-u")
            tty.type(plat.url)
            tty.wait("CA certificate")
            tty.keys("C-u")
            tty.type(ca)

        # A code that is not 14 digits: refused by the console itself.
        personalize("1234")
        tty.wait("the personalization code has 14 digits")
        tty.keys("Enter")
        # A wrong code: the supervisor's one line, the sensor not registered.
        wrong = "0" * 14 if code != "0" * 14 else "1" * 14
        personalize(wrong)
        s = tty.wait("Registration failed")
        t.check("code unknown" in " ".join(s.replace("\u2502", " ").split()), "wrong code: the screen does not say why:\n%s" % s)
        t.check(not os.path.exists(os.path.join(state, "platform", "identity")), "a wrong code left an identity")
        tty.keys("Enter")
        tty.wait("Status: Unregistered")
        # The real code.
        personalize(code)
        s = tty.wait("Appliance registration completed successfully")
        t.check("Status: Registered" in s, "no status after registration:\n%s" % s)
        tty.keys("Enter")
        tty.wait("Status: Registered")
        t.check(plat.sensor(sid)["status"] == "Registered", "the platform says %s" % plat.sensor(sid)["status"])

        # --- Set up Network: static address -----------------------------------
        network = os.path.join(root, "etc", "systemd", "network", "10-tapsense-management.network")

        def static(values):
            tty.keys("Home", "Enter")            # Set up Network
            tty.wait("Management interface mgmt0")
            tty.keys("Home", "Enter")            # Network
            tty.wait("Static IP")
            tty.keys("Down", "Space", "Enter")
            for label, v in zip(("IP address", "Netmask", "Gateway", "DNS1", "DNS2"), values):
                tty.wait(label)
                tty.type(v)

        static(["192.0.2.10", "255.255.255.0", "198.51.100.1", "192.0.2.53", ""])
        tty.wait("Gateway 198.51.100.1 is not in the network 192.0.2.0/24")
        t.check(not os.path.exists(network), "a refused static address wrote %s" % network)
        tty.keys("Enter")
        tty.wait("Management interface mgmt0")
        tty.keys("Escape")
        tty.wait("Status: Registered")
        static(["192.0.2.10", "24", "192.0.2.1", "192.0.2.53", "192.0.2.54"])
        tty.wait("Network settings saved: 192.0.2.10/24 gateway 192.0.2.1 on mgmt0")
        with open(network) as f:
            lines = [l for l in f.read().splitlines() if l and not l.startswith("#")]
        want = ["[Match]", "Name=mgmt0", "[Network]", "Address=192.0.2.10/24", "Gateway=192.0.2.1",
                "DNS=192.0.2.53", "DNS=192.0.2.54"]
        t.check(lines == want, "networkd file:\n%s\nexpected:\n%s" % (lines, want))
        with open(os.path.join(root, "etc", "resolv.conf")) as f:
            ns = [l.split()[1] for l in f if l.startswith("nameserver")]
        t.check(ns == ["192.0.2.53", "192.0.2.54"], "resolv.conf nameservers %s" % ns)
        tty.keys("Enter")
        tty.keys("Home", "Down", "Enter")        # Show
        s = tty.wait("Address=192.0.2.10/24")
        t.check("Gateway=192.0.2.1" in s, "Show does not show the gateway:\n%s" % s)
        tty.keys("Enter")

        # --- Proxy Configuration ------------------------------------------------
        tty.keys("End", "Enter")                 # Proxy
        tty.wait("Enable Proxy")
        tty.keys("Home", "Space", "Enter")
        tty.wait("Proxy IP Address")
        tty.keys("C-u")
        tty.type("127.0.0.1")
        tty.wait("Proxy Port")
        tty.keys("C-u")
        tty.type("3128")
        tty.wait("BasicAuth")
        tty.keys("Home", "Down", "Space", "Enter")
        tty.wait("Proxy User")
        tty.type("sensor")
        tty.wait("Proxy Password")
        tty.type("s3cret \"quoted\"")
        tty.wait("Proxy settings saved: http://127.0.0.1:3128")
        with open(config, "rb") as f:
            cfg = tomllib.load(f)
        up = cfg["uplink"]
        got = {k: up.get(k) for k in ("proxy", "proxy_auth", "proxy_user", "proxy_password")}
        want = {"proxy": "http://127.0.0.1:3128", "proxy_auth": "basic", "proxy_user": "sensor",
                "proxy_password": "s3cret \"quoted\""}
        t.check(got == want, "[uplink] proxy keys %s, expected %s" % (got, want))
        t.check(up.get("spool_mb") == 500 and cfg["sensor"]["state_dir"] == state,
                "the console lost other settings: %s" % cfg)
        with open(config) as f:
            t.check("# kept by the console" in f.read(), "the console dropped the file's comments")
        t.check(os.stat(config).st_mode & 0o007 == 0, "the configuration with a proxy password is world-readable")
        tty.keys("Enter")
        # A bad port: refused, the file unchanged.
        before = open(config).read()
        tty.keys("End", "Enter")
        tty.wait("Enable Proxy")
        tty.keys("Home", "Space", "Enter")
        tty.wait("Proxy IP Address")
        tty.type("")
        tty.wait("Proxy Port")
        tty.keys("C-u")
        tty.type("99999")
        tty.wait("BasicAuth")
        tty.keys("Enter")
        tty.wait("Proxy User")
        tty.type("")
        tty.wait("Proxy Password")
        tty.type("")
        tty.wait("Proxy Port '99999' is not a port number")
        t.check(open(config).read() == before, "a refused proxy changed the configuration")
        tty.keys("Enter")
        tty.keys("Escape")
        tty.wait("Status: Registered")

        # --- System Shutdown -----------------------------------------------------
        tty.keys("End", "Enter")
        tty.wait("Shut the appliance down?")
        tty.keys("Enter")
        tty.wait("console-exit=0")
        t.check(os.path.exists(powered_off), "System Shutdown did not run the power-off command")
    finally:
        if tty:
            tty.close()
        plat.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    t.main(run)
