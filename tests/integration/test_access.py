"""Connection-level policy: IP allow/deny lists and connection limits."""
import smtplib
import socket
import time

from conftest import BASE_CONFIG


def test_deny_list_rejects_with_554(make_sluice):
    s = make_sluice(config=BASE_CONFIG.replace(
        "[log]", '[access]\ndeny = ["127.0.0.0/8"]\n[log]')).start()
    c = s.connect()
    code, text = c.reply()
    assert code == 554 and "5.7.1" in text
    for line, code in ((b"EHLO c\r\n", 503), (b"MAIL FROM:<a@b.test>\r\n", 503),
                       (b"QUIT\r\n", 221)):
        c.send(line)
        assert c.reply()[0] == code


def test_deny_with_drop_closes_at_once(make_sluice):
    s = make_sluice(config=BASE_CONFIG.replace(
        "[log]", '[access]\ndeny = ["127.0.0.1/32"]\ndeny_action = "drop"\n[log]'))
    # start() probes by connecting; a dropping server closes at once, which still means "listening".
    s.start()
    c = s.connect()
    assert c.closed(timeout=5)
    assert c.buf == b""


def test_allow_list_excludes_others(make_sluice):
    s = make_sluice(config=BASE_CONFIG.replace(
        "[log]", '[access]\nallow = ["10.0.0.0/8", "::1"]\n[log]')).start()
    c = s.connect()
    assert c.reply()[0] == 554


def test_per_ip_connection_limit(make_sluice):
    s = make_sluice(config=BASE_CONFIG.replace("connections_per_ip = 1000",
                                               "connections_per_ip = 2")).start()
    # start() probed the port with a connection of its own; its slot is freed asynchronously, so
    # wait for the two slots rather than assume them.
    def greeted():
        deadline = time.monotonic() + 5
        while True:
            conn = s.connect()
            code, _ = conn.reply()
            if code == 220:
                return conn
            conn.close()
            assert time.monotonic() < deadline, "no free slot"
            time.sleep(0.05)

    a, b = greeted(), greeted()
    c = s.connect()
    code, text = c.reply()
    assert code == 421 and "4.7.0" in text
    assert c.closed()
    a.send(b"QUIT\r\n")
    a.expect(221)
    a.close()
    # A slot is free again.
    for _ in range(50):
        d = s.connect()
        code, _ = d.reply()
        d.close()
        if code == 220:
            break
        time.sleep(0.05)
    assert code == 220
