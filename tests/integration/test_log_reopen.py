"""[log] file and logrotate without copytruncate: the file is created mode 0640; after it is
renamed, SIGHUP makes Sluice write to a new file at the configured path (mode 0640), while the
renamed one keeps everything logged before. Started as root with user = "nobody", the log file is
nobody's, and so is the one a SIGHUP creates."""
import os
import pwd
import signal
import smtplib
import stat
import tempfile
import time

import pytest

from conftest import BASE_CONFIG, Sluice


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def text_of(p):
    return p.read_text(errors="replace") if p.exists() else ""


def rotate_and_check(s):
    """Sends a message, renames the log, SIGHUPs, sends another; checks where the lines went."""
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("a@remote.test", ["alice@example.org"], b"Subject: one\r\n\r\nx\r\n")
    s.wait_log(r"event=delivery .*rcpt=alice@example.org")
    rotated = s.log.with_name(s.log.name + ".1")
    os.rename(s.log, rotated)
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=log_reopened" in text_of(s.log), "a new log file after SIGHUP")
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("a@remote.test", ["bob@example.org"], b"Subject: two\r\n\r\nx\r\n")
    wait_for(lambda: "rcpt=bob@example.org" in text_of(s.log), "the second delivery's line")
    old, new = text_of(rotated), text_of(s.log)
    assert "rcpt=alice@example.org" in old and "rcpt=alice@example.org" not in new
    assert "rcpt=bob@example.org" not in old
    assert new.startswith("ts=") and "event=connect " in new
    assert stat.S_IMODE(os.stat(s.log).st_mode) == 0o640
    return rotated


def test_sighup_reopens_the_log_file(make_sluice):
    s = make_sluice()
    s.start()
    assert stat.S_IMODE(os.stat(s.log).st_mode) == 0o640
    rotated = rotate_and_check(s)
    assert stat.S_IMODE(os.stat(rotated).st_mode) == 0o640
    assert s.stop() == 0
    assert "event=stopped" in text_of(s.log)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_log_file_belongs_to_the_run_as_user_before_and_after_reopen():
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="sluice-log-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        from test_privileges import reachable_by_nobody
        if not reachable_by_nobody(d):
            pytest.skip("nobody cannot reach %s on this host (a parent is not searchable)" % d)
        logs = os.path.join(d, "logs")
        os.mkdir(logs, 0o750)
        os.chown(logs, nobody.pw_uid, nobody.pw_gid)  # as /var/log/sluice is the user's
        s = Sluice(d, config='user = "nobody"\n' + BASE_CONFIG)
        s.log = s.tmp / "logs" / "sluice.log"
        s.config_path.write_text(('user = "nobody"\n' + BASE_CONFIG).format(
            data=s.data, port=s.port, log=s.log, command_timeout="30s"))
        s.start()
        try:
            wait_for(lambda: "event=privileges_dropped" in text_of(s.log), "the privilege drop")
            st = os.stat(s.log)
            assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
            assert stat.S_IMODE(st.st_mode) == 0o640
            rotate_and_check(s)
            st = os.stat(s.log)
            assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
        finally:
            assert s.stop() == 0
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
