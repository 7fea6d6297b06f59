"""The appliance image booted: `cpack -G DEB`, then deploy/image/build.sh
(mmdebstrap, Debian's archive only; with a serial login for this test), its
outputs checked with qemu-img (raw, qcow2, VMDK, VHDX; the OVA a tar with the
OVF descriptor first), and the qcow2 booted under qemu-system-x86_64 (TCG,
no KVM) with two NICs: eth0 management (QEMU user network), eth1 sniffing (a
UDP socket netdev the test feeds the project's sample capture through, one
frame per datagram). Over the serial console: tapsense.service active, the
console on tty1 active, and the sensor's own Prometheus counter
tapsense_captured_packets_total equal to the frames sent.
TAPSENSE_IMAGE_DIR=DIR reuses images already built there (with
--debug-root-password tapsense-test) instead of building."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import time
import glob
import json
import signal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

PASSWORD = "tapsense-test"


def pcap_frames(path):
    """The Ethernet frames of a classic pcap file (either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise t.Failure("%s is not a classic pcap file" % path)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    t.check(linktype == 1, "%s: link type %d, not Ethernet" % (path, linktype))
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


class Serial:
    def __init__(self, path, log):
        deadline = time.time() + 30
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise t.Failure("no serial socket at %s" % path)
                time.sleep(0.2)
        self.s.settimeout(1)
        self.buf = b""
        self.log = open(log, "ab")

    def read_until(self, text, timeout):
        want = text.encode()
        deadline = time.time() + timeout
        while want not in self.buf:
            if time.time() > deadline:
                raise t.Failure("serial console: no %r within %ds; last output:\n%s" %
                                (text, timeout, self.buf[-3000:].decode(errors="replace")))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise t.Failure("the VM's serial port closed (QEMU exited?)")
            self.buf += chunk
            self.log.write(chunk)
            self.log.flush()
        i = self.buf.index(want) + len(want)
        before, self.buf = self.buf[:i], self.buf[i:]
        return before.decode(errors="replace")

    def send(self, line):
        self.s.sendall(line.encode() + b"\r")

    def run(self, cmd, timeout=120):
        """A shell command's output (between markers) and its exit status."""
        mark = "M%d" % int(time.time() * 1000)
        self.send("echo %s-begin; %s; echo %s-rc=$?" % (mark, cmd, mark))
        self.read_until("%s-begin\r\n" % mark, timeout)   # (an echoed command line has "-begin;", not this)
        out = self.read_until("%s-rc=" % mark, timeout)
        rc = int(self.read_until("\r\n", 10).strip())
        return out[:-len("%s-rc=" % mark)], rc


def run():
    # A timeout's SIGTERM still stops QEMU (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        t.skip("building the image needs root (mmdebstrap into a directory)")
    for tool in ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "mke2fs", "cpack"):
        t.need(tool)
    work = t.tmpdir()
    images = os.environ.get("TAPSENSE_IMAGE_DIR")
    if not images:
        r = subprocess.run(["cpack", "-G", "DEB"], cwd=t.BUILD, capture_output=True, text=True)
        t.check(r.returncode == 0, "cpack failed: %s" % (r.stdout[-2000:] + r.stderr[-2000:]))
        deb = sorted(glob.glob(os.path.join(t.BUILD, "tapsense_*_amd64.deb")), key=os.path.getmtime)[-1]
        images = os.path.join(work, "image")
        started = time.time()
        r = subprocess.run([os.path.join(t.SOURCE, "deploy", "image", "build.sh"), "--deb", deb, "--out", images,
                            "--debug-root-password", PASSWORD], capture_output=True, text=True, timeout=3000)
        t.check(r.returncode == 0, "build.sh exit %d: %s" % (r.returncode, r.stderr[-3000:]))
        print("image built in %.0f s" % (time.time() - started))

    # --- the outputs ------------------------------------------------------------
    for name, fmt in (("tapsense.raw", "raw"), ("tapsense.qcow2", "qcow2"), ("tapsense.vmdk", "vmdk"),
                      ("tapsense.vhdx", "vhdx")):
        path = os.path.join(images, name)
        t.check(os.path.exists(path), "build.sh made no %s" % name)
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", path], capture_output=True,
                                         text=True, check=True).stdout)
        t.check(info["format"] == fmt, "%s: qemu-img says %s" % (name, info["format"]))
        t.check(info["virtual-size"] == os.path.getsize(os.path.join(images, "tapsense.raw")),
                "%s: virtual size %d differs from the raw disk" % (name, info["virtual-size"]))
    with tarfile.open(os.path.join(images, "tapsense.ova")) as ova:
        names = ova.getnames()
    t.check(names[0] == "tapsense.ovf" and "tapsense.vmdk" in names, "OVA members %s" % names)
    with open(os.path.join(images, "tapsense.raw"), "rb") as f:
        mbr = f.read(512)
    t.check(mbr[510:] == b"\x55\xaa" and mbr[446] == 0x80 and mbr[450] == 0x83, "the raw disk has no bootable MBR")

    # --- boot the qcow2 (an overlay: the image stays as built) --------------------
    disk = os.path.join(work, "boot.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(images, "tapsense.qcow2"), "-F",
                    "qcow2", disk], check=True)
    serial_path = os.path.join(work, "serial.sock")
    feed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    feed.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    qemu_port = s.getsockname()[1]   # where QEMU listens for eth1's frames
    s.close()
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2", "-display", "none", "-no-reboot",
        "-drive", "file=%s,if=virtio,format=qcow2" % disk,
        "-netdev", "user,id=mgmt", "-device", "virtio-net-pci,netdev=mgmt",
        "-netdev", "socket,id=sniff,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d" % (feed.getsockname()[1], qemu_port),
        "-device", "virtio-net-pci,netdev=sniff",
        "-chardev", "socket,id=s0,path=%s,server=on,wait=off" % serial_path, "-serial", "chardev:s0"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "qemu.log"), "w"))
    try:
        con = Serial(serial_path, os.path.join(work, "serial.log"))
        started = time.time()
        con.read_until("login:", 900)
        print("booted to the serial login in %.0f s" % (time.time() - started))
        con.send("root")
        con.read_until("Password:", 60)
        con.send(PASSWORD)
        con.read_until("#", 120)
        con.send("stty -echo; export PS1='# '")
        time.sleep(1)
        out, rc = con.run("systemctl is-active tapsense-console.service")
        t.check(rc == 0, "the console is not running on tty1: %r" % out)
        deadline = time.time() + 600
        while True:
            out, rc = con.run("systemctl is-active tapsense.service")
            if rc == 0:
                break
            t.check(time.time() < deadline, "tapsense.service not active: %r" % out)
            time.sleep(5)
        metric = ("python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:9640/metrics')"
                  ".read().decode())\" | grep '^tapsense_captured_packets_total'")
        deadline = time.time() + 300
        while True:   # the metrics come up once every stage is up
            out, rc = con.run(metric)
            if rc == 0:
                break
            t.check(time.time() < deadline, "no captured-packets metric: %r" % out)
            time.sleep(5)
        before = int(float(out.split()[-1]))
        sample, packets = t.sample_capture(work, 1)
        frames = pcap_frames(sample)
        t.check(len(frames) == packets, "read %d frames, capinfos says %d" % (len(frames), packets))
        for i, fr in enumerate(frames):
            feed.sendto(fr, ("127.0.0.1", qemu_port))
            if i % 10 == 9:
                time.sleep(0.2)   # TCG is slow: a UDP netdev cannot push back, so keep its queue short
        deadline = time.time() + 120
        while True:
            out, rc = con.run(metric)
            got = int(float(out.split()[-1])) - before if rc == 0 else -1
            if got >= len(frames) or time.time() > deadline:
                break
            time.sleep(5)
        if got != len(frames):
            diag, _ = con.run("ip -s link show eth1; " + metric.replace("'^tapsense_captured_packets_total'",
                                                                        "'^tapsense_dropped'"))
            raise t.Failure("the appliance captured %d packets of the %d sent on eth1:\n%s" % (got, len(frames), diag))
        print("sensed %d of %d frames on eth1" % (got, len(frames)))
        con.send("poweroff")
        # Keep reading: QEMU blocks the guest's serial output on a full socket.
        try:
            con.read_until("reboot: Power down", 300)
        except t.Failure:
            pass
        qemu.wait(timeout=60)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    t.main(run)
