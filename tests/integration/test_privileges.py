"""Privilege drop: started as root with `user` set, Sluice binds its ports (a port below 1024
here), hands its directories to that user and runs as it; delivery keeps working. A user that
does not exist stops the start instead of running as root. Needs root (CI runs as root)."""
import os
import pwd
import smtplib
import socket
import stat
import tempfile

import pytest

from conftest import BASE_CONFIG, Sluice, reachable_by_nobody

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")


def low_port():
    """A free privileged port on loopback (only root can bind it: proves bind-before-drop)."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


@pytest.fixture
def world_dir():
    # pytest's tmp_path lives under a 0700 directory the unprivileged user cannot traverse.
    d = tempfile.mkdtemp(prefix="sluice-priv-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def ids(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
    return out


def test_runs_as_nobody_after_binding_a_low_port(world_dir):
    nobody = pwd.getpwnam("nobody")
    if not reachable_by_nobody(world_dir):
        pytest.skip("nobody cannot reach %s on this host (a parent is not searchable)" % world_dir)
    s = Sluice(world_dir, config='user = "nobody"\n' + BASE_CONFIG)
    s.port = low_port()
    s.config_path.write_text(('user = "nobody"\n' + BASE_CONFIG).format(
        data=s.data, port=s.port, log=s.log, command_timeout="30s"))
    # Left over from a root-run: must become nobody's too.
    (s.data / "spool" / "queue").mkdir(parents=True)
    try:
        s.start()
        st = ids(s.proc.pid)
        assert st["Uid"] == [nobody.pw_uid] * 4, st
        assert st["Gid"] == [nobody.pw_gid] * 4, st
        assert st["Groups"] in ([], [nobody.pw_gid]), st
        with smtplib.SMTP(s.host, s.port, timeout=10) as c:
            c.sendmail("a@remote.test", ["alice@example.org"], b"Subject: dropped\r\n\r\nok\r\n")
        msgs = s.wait_for_messages("alice", 1)
        assert b"Subject: dropped" in msgs[0]
        s.wait_queue_empty()
        for p in (s.data, s.data / "spool", s.data / "spool" / "queue", s.maildir("alice") / "new"):
            assert os.stat(p).st_uid == nobody.pw_uid, p
        f = next((s.maildir("alice") / "new").iterdir())
        assert os.stat(f).st_uid == nobody.pw_uid
        assert not stat.S_IMODE(os.stat(f).st_mode) & 0o002
    finally:
        assert s.stop() == 0
    # A restart (as root again) over nobody's files works.
    s.start()
    assert ids(s.proc.pid)["Uid"][0] == nobody.pw_uid
    assert s.stop() == 0


def test_unknown_user_refuses_to_start(world_dir):
    s = Sluice(world_dir, config='user = "no-such-sluice-user"\n' + BASE_CONFIG)
    with pytest.raises(RuntimeError) as e:
        s.start(timeout=10)
    assert "no such user" in str(e.value)
    assert s.proc.returncode != 0


def test_bad_user_name_is_a_config_error(world_dir):
    s = Sluice(world_dir, config='user = "root; rm -rf /"\n' + BASE_CONFIG)
    r = s.cli("check-config", str(s.config_path), check=False)
    assert r.returncode == 2 and b"user" in r.stderr


def test_directory_the_user_cannot_reach_stops_the_start_with_the_reason(world_dir):
    # data_dir below a root-only (0700) directory: chowning data_dir to nobody does not help, and
    # without this check the server died later with "control socket ...: Permission denied".
    locked = os.path.join(world_dir, "locked")
    os.mkdir(locked, 0o700)
    s = Sluice(locked, config='user = "nobody"\n' + BASE_CONFIG)
    r = s.cli("check-config", str(s.config_path), check=False)
    assert r.returncode == 2, r
    assert b"data_dir" in r.stderr and b"nobody cannot reach it" in r.stderr, r.stderr
    assert locked.encode() in r.stderr
    with pytest.raises(RuntimeError) as e:
        s.start(timeout=10)
    assert "nobody cannot reach it" in str(e.value)
    assert s.proc.returncode == 2
    assert not (s.data / "control.sock").exists()
