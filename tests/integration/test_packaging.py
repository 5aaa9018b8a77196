"""Packaging and running as a service (docs/packaging.md).

- `cmake --install` of the build tree the binary under test comes from (SLUICE_BIN =
  <build>/apps/sluice/sluice) into a temporary DESTDIR puts every file where the unit and the man
  page say, and never overwrites an edited configuration; the installed unit passes
  `systemd-analyze verify`.
- sd_notify tells the truth, for a path and an abstract ('@') NOTIFY_SOCKET: READY=1 only once the
  SMTP port greets; RELOADING=1 then READY=1 on SIGHUP; STOPPING=1 on SIGTERM.
- `cpack -G DEB` builds a .deb holding the binary, the unit and the configuration as a conffile.

Every step is bounded in time (cmake --install and cpack take a few seconds)."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import BIN, Sluice

BUILD = pathlib.Path(BIN).resolve().parents[2]
REPO = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "/usr"
CONFIG = "etc/sluice/sluice.toml"  # relative to DESTDIR
UNIT = "usr/lib/systemd/system/sluice.service"
INSTALLED = [
    "usr/bin/sluice",
    CONFIG,
    "usr/share/doc/sluice/sluice.toml",
    "usr/share/doc/sluice/sluice.example.toml",
    "usr/share/doc/sluice/configuration.md",
    "usr/share/doc/sluice/packaging.md",
    "usr/share/man/man8/sluice.8.gz",
    UNIT,
    "usr/lib/sysusers.d/sluice.conf",
    "usr/lib/tmpfiles.d/sluice.conf",
    "etc/logrotate.d/sluice",
]

needs_build_tree = pytest.mark.skipif(not (BUILD / "CMakeCache.txt").is_file(),
                                      reason="SLUICE_BIN is not inside a CMake build tree")


def cmake_install(destdir):
    r = subprocess.run(["cmake", "--install", str(BUILD), "--prefix", PREFIX],
                       env=dict(os.environ, DESTDIR=str(destdir)), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    cmake_install(root)
    return root


@needs_build_tree
def test_install_puts_every_file_in_place(installed):
    missing = [f for f in INSTALLED if not (installed / f).is_file()]
    assert not missing, "not installed: %s" % missing
    assert os.access(installed / "usr/bin/sluice", os.X_OK)
    unit = (installed / UNIT).read_text()
    # The unit names the installed binary and configuration, not the build tree's.
    assert "ExecStart=%s/bin/sluice serve --config /%s\n" % (PREFIX, CONFIG) in unit
    assert "Type=notify" in unit and "User=sluice" in unit
    # The configuration installed is the packaged one, and it is valid.
    assert (installed / CONFIG).read_bytes() == (REPO / "packaging/sluice.toml").read_bytes()
    r = subprocess.run([BIN, "check-config", str(installed / CONFIG)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "sluice" in (installed / "usr/lib/sysusers.d/sluice.conf").read_text()


@needs_build_tree
def test_reinstall_keeps_an_edited_configuration(tmp_path):
    cmake_install(tmp_path)
    conf = tmp_path / CONFIG
    edited = conf.read_text() + '\n[[domain]]\nname = "edited.example"\n'
    conf.write_text(edited)
    out = cmake_install(tmp_path)
    assert conf.read_text() == edited
    assert "Keeping existing" in out, out
    # Everything else is installed again as usual.
    assert (tmp_path / UNIT).is_file()


@needs_build_tree
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_installed_unit_passes_systemd_analyze_verify(installed):
    # --root checks the unit as the installed system sees it (ExecStart= must exist there);
    # ExecReload= names /bin/kill, which a real root has. --recursive-errors=no: the root holds no
    # other units (multi-user.target and the like). --man=no: the man page is in the root, not
    # on this host's MANPATH.
    kill = installed / "bin/kill"
    if not kill.exists():
        kill.parent.mkdir(exist_ok=True)
        shutil.copy(shutil.which("kill") or "/bin/kill", kill)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=no",
                        "--root=%s" % installed, "sluice.service"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


# --- sd_notify readiness ----------------------------------------------------------------------

class NotifySluice(Sluice):
    """The harness's server with $NOTIFY_SOCKET set, started without the harness's own probing
    (which would itself be the first client), so readiness is judged by the notification alone."""

    def __init__(self, tmp, notify_socket):
        super().__init__(tmp)
        self.notify_socket = notify_socket

    def command(self):
        argv, env = super().command()
        return argv, dict(os.environ if env is None else env, NOTIFY_SOCKET=self.notify_socket)

    def launch(self):
        self.stderr = open(self.tmp / "stderr.txt", "ab")
        argv, env = self.command()
        self.proc = subprocess.Popen(argv, stdout=self.stderr, stderr=self.stderr, env=env)


def receive_state(sock, key, proc, timeout=20):
    """Reads notifications until one sets `key`; returns its fields and every earlier message."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(0.2)
        try:
            data = sock.recv(4096)
        except (socket.timeout, TimeoutError):
            if proc.poll() is not None:
                raise AssertionError("sluice exited (%s) before %s; got %r" %
                                     (proc.returncode, key, seen))
            continue
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        if key in fields:
            return fields, seen
        seen.append(fields)
    raise AssertionError("no %s within %ss; got %r" % (key, timeout, seen))


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_sd_notify_ready_after_greeting_reloading_and_stopping(tmp_path, kind):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
        notify = address
    else:
        name = "sluice-test-notify-%s" % uuid.uuid4().hex
        sock.bind("\0" + name)
        notify = "@" + name
    s = NotifySluice(tmp_path, notify)
    try:
        s.launch()
        ready, before = receive_state(sock, "READY", s.proc)
        assert ready["READY"] == "1" and ready.get("STATUS"), ready
        assert not before, "notifications before READY=1: %r" % before
        # At the moment systemd would start what depends on us, the SMTP port greets.
        c = s.connect(timeout=5)
        assert c.expect(220).startswith("220 mx.test")
        c.send("QUIT\r\n")
        c.expect(221)
        c.close()
        # SIGHUP (systemctl reload): RELOADING=1 with the time systemd 253+ asks for, then READY=1.
        s.proc.send_signal(signal.SIGHUP)
        reloading, _ = receive_state(sock, "RELOADING", s.proc)
        assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
        ready, _ = receive_state(sock, "READY", s.proc)
        assert ready["READY"] == "1"
        s.proc.send_signal(signal.SIGTERM)
        stopping, _ = receive_state(sock, "STOPPING", s.proc)
        assert stopping["STOPPING"] == "1"
        assert s.proc.wait(timeout=20) == 0
    finally:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        sock.close()


# --- the .deb ---------------------------------------------------------------------------------

@needs_build_tree
@pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("dpkg-shlibdeps") is None
                    or shutil.which("cpack") is None, reason="cpack or dpkg-dev not installed")
def test_cpack_builds_a_deb_with_conffiles_unit_and_binary(tmp_path):
    # -B keeps cpack's staging and output out of the build tree.
    r = subprocess.run(["cpack", "--config", str(BUILD / "CPackConfig.cmake"), "-G", "DEB",
                        "-B", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(tmp_path.glob("sluice_*.deb"))
    assert len(debs) == 1, r.stdout
    info = subprocess.run(["dpkg-deb", "-I", str(debs[0])], capture_output=True, text=True,
                          timeout=30).stdout
    assert "Package: sluice" in info and "Depends: " in info and "libc6" in info, info
    conffiles = subprocess.run(["dpkg-deb", "--info", str(debs[0]), "conffiles"],
                               capture_output=True, text=True, timeout=30).stdout.split()
    assert "/etc/sluice/sluice.toml" in conffiles and "/etc/logrotate.d/sluice" in conffiles
    contents = subprocess.run(["dpkg-deb", "-c", str(debs[0])], capture_output=True, text=True,
                              timeout=30).stdout
    for f in INSTALLED:
        assert " ./%s" % f in contents + "\n", "%s not in the .deb:\n%s" % (f, contents)
    postinst = subprocess.run(["dpkg-deb", "--info", str(debs[0]), "postinst"],
                              capture_output=True, text=True, timeout=30).stdout
    assert "systemd-sysusers" in postinst and "systemctl start" not in postinst
