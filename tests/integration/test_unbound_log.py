"""libunbound's own messages go through Sluice's log: a trust anchor file that does not parse
makes libunbound complain at its first query; the complaint must be an `unbound` event in the
[log] file (level from libunbound's), and nothing may reach stderr raw."""
import smtplib

from conftest import BASE_CONFIG


def test_libunbound_errors_are_log_events(make_sluice, tmp_path):
    key = tmp_path / "bad.key"
    key.write_text("this is not a trust anchor\n")
    cfg = BASE_CONFIG + ('[access]\ntrusted = ["127.0.0.1"]\n[dns]\nforwarders = ["127.0.0.1@1"]\n'
                         'timeout = "2s"\ntrust_anchor_file = "%s"\n' % key)
    s = make_sluice(config=cfg).start()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("alice@example.org", ["x@remote.test"], b"Subject: x\r\n\r\ny\r\n")
    s.wait_log(r"level=error event=unbound message=\"error reading trust-anchor-file: %s\"" % key)
    s.wait_log(r"event=relay .*rcpt=x@remote.test .*code=451 .*result=deferred")
    assert s.stop() == 0
    stderr = (s.tmp / "stderr.txt").read_text(errors="replace")
    assert "libunbound" not in stderr and "trust-anchor" not in stderr, stderr
