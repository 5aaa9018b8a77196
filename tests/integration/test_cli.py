"""The command line: config validation, the embedded default, queue inspection, and shutdown."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

from conftest import BIN, REPO


def test_example_config_is_valid():
    r = subprocess.run([BIN, "check-config", str(REPO / "sluice.example.toml")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_bad_config_names_key_and_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('hostname = "mx.test"\n\n[limits]\nmessage_size = "lots"\n')
    r = subprocess.run([BIN, "check-config", str(p)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "limits.message_size" in r.stderr and ":4:" in r.stderr, r.stderr
    # `serve` refuses to start half-configured, with the same message.
    r = subprocess.run([BIN, "serve", "--config", str(p)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0 and "limits.message_size" in r.stderr


def test_unknown_key_is_an_error(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text('[limits]\nmessage_sise = 1000000\n')
    r = subprocess.run([BIN, "check-config", str(p)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "message_sise" in r.stderr, r.stderr


def test_embedded_default_runs_and_says_where_mail_lands(tmp_path):
    # Port 2525 is the documented default; skip politely if something else holds it.
    try:
        with socket.create_connection(("127.0.0.1", 2525), timeout=0.5):
            import pytest
            pytest.skip("port 2525 in use")
    except OSError:
        pass
    proc = subprocess.Popen([BIN, "serve"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", 2525, timeout=5) as c:
                    c.sendmail("me@remote.test", ["anyone@localhost"], b"Subject: d\r\n\r\nx\r\n")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        new = tmp_path / "sluice-data" / "mail" / "localhost" / "anyone" / "new"
        deadline = time.monotonic() + 10
        while not (new.is_dir() and any(new.iterdir())):
            assert time.monotonic() < deadline, "no delivery into %s" % new
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert str(tmp_path / "sluice-data" / "mail") in err.decode()


def test_queue_list_and_cat_show_a_deferred_message(make_sluice):
    # A relayed message whose DNS server does not answer stays queued, deferred, with its error.
    from conftest import BASE_CONFIG, free_port
    s = make_sluice(config=BASE_CONFIG + """
[access]
trusted = ["127.0.0.1"]
[dns]
forwarders = ["127.0.0.1@%d"]
timeout = "500ms"
""" % free_port())
    s.start()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("x@remote.test", ["alice@far.test"], b"Subject: held\r\n\r\nkeep me\r\n")
    deadline = time.monotonic() + 10
    while True:
        r = s.cli("queue", "list", "--config", str(s.config_path))
        if "last_error=" in r.stdout.decode():
            break
        assert time.monotonic() < deadline, r.stdout
        time.sleep(0.1)
    out = r.stdout.decode()
    qid = re.search(r"^([0-9A-Z]{16})\s", out, re.M).group(1)
    assert "alice@far.test" in out and "pending" in out and "4.4.3" in out
    cat = s.cli("queue", "cat", qid, "--config", str(s.config_path)).stdout
    assert cat.startswith(b"Received: from") and cat.endswith(b"Subject: held\r\n\r\nkeep me\r\n")
    r = s.cli("queue", "cat", "../../etc/passwd", "--config", str(s.config_path), check=False)
    assert r.returncode != 0


def test_sigterm_lets_transaction_finish(make_sluice):
    s = make_sluice().start()
    c = s.connect()
    c.expect(220)
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
    assert [r[0] for r in c.replies(4)] == [250, 250, 250, 354]
    idle = s.connect()
    idle.expect(220)
    s.proc.send_signal(signal.SIGTERM)
    # The idle session is told to go away; the one in DATA may finish its message.
    code, text = idle.reply()
    assert code == 421, text
    time.sleep(0.2)
    c.send(b"Subject: late\r\n\r\nstill accepted\r\n.\r\n")
    assert c.reply()[0] == 250
    code, _ = c.reply()
    assert code == 421
    assert s.proc.wait(20) == 0
    # Restart: the message is delivered (if it was not already).
    s.start()
    assert len(s.wait_for_messages("bob", 1)) == 1
