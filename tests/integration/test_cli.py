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
    c.send(b"EHLO c\r\n")
    assert c.reply()[0] == 250
    c.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
    assert [r[0] for r in c.replies(3)] == [250, 250, 354]
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


def run(*args, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30, cwd=cwd)


def test_version_and_unknown_commands():
    r = run("--version")
    assert r.returncode == 0 and re.match(r"sluice \d+\.\d+\.\d+ \(git \S+, \w+ build\)", r.stdout), r
    r = run("serv")
    assert r.returncode == 2
    assert "unknown command 'serv'; did you mean 'serve'?" in r.stderr, r.stderr
    r = run("queue", "lsit")
    assert r.returncode == 2 and "did you mean 'queue list'?" in r.stderr, r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    assert "did you mean" not in r.stderr


def test_check_config_checks_what_serve_needs(tmp_path):
    from conftest import BASE_CONFIG, free_port
    base = BASE_CONFIG.format(data=tmp_path / "data", port=free_port(), log=tmp_path / "log",
                              command_timeout="30s")
    ok = tmp_path / "ok.toml"
    ok.write_text('user = ""\n' + base)  # the documented default
    r = run("check-config", str(ok))
    assert r.returncode == 0, r.stderr
    # A key that belongs to another certificate.
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=mx.test", "-days", "1",
                        "-keyout", str(tmp_path / (name + ".key")), "-out",
                        str(tmp_path / (name + ".pem"))], check=True, capture_output=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = {
        "tls.key_file": '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' % (tmp_path / "a.pem",
                                                                         tmp_path / "b.key"),
        "auth.sqlite_file": '[auth]\nsqlite_file = "%s"\n' % (tmp_path / "missing.db"),
        "dns.trust_anchor_file": '[dns]\ntrust_anchor_file = "%s"\n' % (tmp_path / "no.key"),
        "spool.dir": '[spool]\ndir = "%s"\n' % (blocker / "spool"),
        # A missing certificate, and one that is not PEM at all.
        "tls.cert_file": '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' % (tmp_path / "none.pem",
                                                                          tmp_path / "a.key"),
        "tls.cert_file ": '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' % (blocker,
                                                                           tmp_path / "a.key"),
        # A log file that cannot be created (its directory is a file).
        "log.file": None,
    }
    for key, extra in cases.items():
        p = tmp_path / (key.strip() + ".toml")
        text = base + (extra or "")
        if key == "log.file":
            text = text.replace('file = "%s"' % (tmp_path / "log"), 'file = "%s"' % (blocker / "log"))
        p.write_text(text)
        key = key.strip()
        r = run("check-config", str(p))
        assert r.returncode == 2 and key in r.stderr, (key, r.stderr)
        # serve refuses with the same key, before binding anything
        r = run("serve", "--config", str(p))
        assert r.returncode == 2 and key in r.stderr, (key, r.stderr)
    p = tmp_path / "user.toml"
    p.write_text('user = "no-such-sluice-user"\n' + base)
    r = run("check-config", str(p))
    assert r.returncode == 2 and "user" in r.stderr and "no such user" in r.stderr, r.stderr


def test_queue_list_never_reports_a_spool_that_is_not_there(tmp_path):
    r = run("queue", "list", cwd=tmp_path)
    assert r.returncode == 1, r
    assert "no readable spool" in r.stderr and str(tmp_path / "sluice-data") in r.stderr
    assert "0 messages" not in r.stdout
    assert not (tmp_path / "sluice-data").exists()


def test_queue_list_as_a_user_who_cannot_read_the_spool_is_an_error(make_sluice):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to run the CLI as nobody")
    from conftest import reachable_by_nobody
    if not reachable_by_nobody(BIN):
        import pytest
        pytest.skip("nobody cannot reach %s on this host (a parent is not searchable)" % BIN)
    import shutil
    import tempfile
    from conftest import Sluice
    d = tempfile.mkdtemp(prefix="sluice-cli-", dir="/tmp")  # nobody can read the config here
    os.chmod(d, 0o755)
    try:
        s = Sluice(d)
        os.chmod(s.config_path, 0o644)
        s.start()  # as root: the spool is root's, 0700
        r = subprocess.run([BIN, "queue", "list", "--config", str(s.config_path)], user="nobody",
                           capture_output=True, text=True, timeout=30)
        s.stop()
        assert r.returncode == 1 and "0 messages" not in r.stdout, r
        assert str(s.data / "spool") in r.stderr and "Permission denied" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_show_fills_defaults_masks_secrets_and_loads_back(tmp_path):
    from conftest import BASE_CONFIG, free_port
    p = tmp_path / "c.toml"
    p.write_text(BASE_CONFIG.format(data=tmp_path / "data", port=free_port(), log=tmp_path / "log",
                                    command_timeout="30s") +
                 '[relay]\nsmarthost = "smart.test:587"\nsmarthost_user = "u"\n'
                 'smarthost_password = "hunter2-secret"\n')
    r = run("config", "show", "--config", str(p))
    assert r.returncode == 0, r.stderr
    assert "hunter2-secret" not in r.stdout and "(secret)" in r.stdout
    assert "lockout_failures = 5" in r.stdout  # a default not in the file
    shown = tmp_path / "shown.toml"
    shown.write_text(r.stdout)
    assert run("check-config", str(shown)).returncode == 0
    assert run("config", "show", "--config", str(shown)).stdout.split("\n", 1)[1] == \
        r.stdout.split("\n", 1)[1]


def test_data_dir_is_created_when_everything_else_lives_elsewhere(make_sluice, tmp_path):
    from conftest import BASE_CONFIG
    elsewhere = tmp_path / "elsewhere"
    s = make_sluice(config=BASE_CONFIG + """
[spool]
dir = "%s"
[delivery]
maildir_root = "%s"
[[rate_limit]]
scope = "ip"
metric = "messages"
limit = 1000
window = "1h"
""" % (elsewhere / "spool", elsewhere / "mail"))
    s.start()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("a@remote.test", ["alice@example.org"], b"Subject: x\r\n\r\ny\r\n")
    assert s.stop() == 0
    assert s.data.is_dir()
    assert (s.data / "rate_limits.state").exists()
    assert "rate_limit_save" not in "\n".join(s.log_lines())
