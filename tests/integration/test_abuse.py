"""Abuse resistance: slowloris, command floods, connection floods and AUTH brute force must not
stop normal clients from being served, and must not make the server's memory grow without bound.
Every test here is bounded to a few seconds (loopback only)."""
import smtplib
import socket
import threading
import time

from conftest import BASE_CONFIG, free_port, rss_kb
from secure_env import PASSWORD, b64, client_context, secure_config


def timed_send(s, to="alice@example.org", source=None):
    start = time.monotonic()
    with smtplib.SMTP(s.host, s.port, timeout=10, source_address=source) as c:
        c.sendmail("a@remote.test", [to], b"Subject: normal\r\n\r\nserved\r\n")
    return time.monotonic() - start


def test_slowloris_does_not_delay_a_normal_client(sluice):
    """200 connections each dribble one byte every ~0.5 s while a normal client sends mail."""
    slow = []
    stop = threading.Event()
    payload = b"EHLO slowloris.example.with.a.long.name\r\nMAIL FROM:<s@remote.test>\r\n"
    try:
        for _ in range(200):
            c = socket.create_connection((sluice.host, sluice.port), timeout=5)
            c.setblocking(False)
            slow.append(c)

        def dribble():
            pos = 0
            while not stop.is_set():
                for c in slow:
                    try:
                        c.send(payload[pos % len(payload):pos % len(payload) + 1])
                    except (BlockingIOError, OSError):
                        pass
                pos += 1
                stop.wait(0.5)

        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        time.sleep(1.2)  # the dribble is under way on every connection
        latencies = [timed_send(sluice) for _ in range(3)]
        assert max(latencies) < 2.0, latencies
        assert len(sluice.wait_for_messages("alice", 3)) == 3
        # The slow connections are still being served (no one was starved or dropped wholesale).
        alive = 0
        for c in slow[:20]:
            try:
                data = c.recv(4096)
                alive += data.startswith(b"220 ")
            except BlockingIOError:
                pass
        assert alive == 20
    finally:
        stop.set()
        for c in slow:
            c.close()


def test_slowloris_from_one_address_is_capped_per_ip(make_sluice):
    """With the default per-IP limit, one attacker address cannot hold more than its share, and a
    client from another address is served at once."""
    s = make_sluice(config=BASE_CONFIG.replace("connections_per_ip = 1000",
                                               "connections_per_ip = 20")).start()
    conns, refused = [], 0
    try:
        for _ in range(200):
            c = socket.create_connection((s.host, s.port), timeout=5)
            conns.append(c)
        for c in conns:
            line = c.recv(200)
            refused += line.startswith(b"421 ")
        assert refused >= 180, refused
        assert timed_send(s, source=("127.0.0.2", 0)) < 2.0
        assert len(s.wait_for_messages("alice", 1)) == 1
    finally:
        for c in conns:
            c.close()


def test_a_command_line_must_arrive_within_the_command_timeout(make_sluice):
    """A client dribbling one byte of a command every 0.3 s never finishes the line: the command
    deadline (2 s here) counts from the line's first byte, not from the last byte read."""
    s = make_sluice(command_timeout="2s").start()
    c = socket.create_connection((s.host, s.port), timeout=10)
    assert c.recv(200).startswith(b"220 ")
    start = time.monotonic()
    got = b""
    c.settimeout(0.3)
    for b in b"EHLO a.slow.client.example.with.a.long.name":
        try:
            c.send(bytes([b]))
            got += c.recv(200)
        except socket.timeout:
            pass
        except OSError:
            break
        if got:
            break
        if time.monotonic() - start > 8:
            break
    assert got.startswith(b"421 4.4.2"), got
    assert time.monotonic() - start < 4.5
    c.close()


def test_a_full_server_evicts_its_idlest_unauthenticated_session_for_a_new_client(make_sluice):
    """Every slot is held by slow sessions from other addresses (as 1,000 slowloris connections
    from 50 addresses would): a new client still gets served, the idlest session makes room."""
    s = make_sluice(config=BASE_CONFIG.replace("connections = 2000", "connections = 30")).start()
    slow = []
    try:
        for i in range(30):
            c = socket.create_connection((s.host, s.port), timeout=5,
                                         source_address=("127.0.0.%d" % (2 + i % 10), 0))
            assert c.recv(200).startswith(b"220 ")
            c.send(b"EHLO slo")  # a command begun and never finished
            slow.append(c)
        time.sleep(1.3)  # idle long enough to be evicted
        for _ in range(3):
            assert timed_send(s) < 2.0
        assert len(s.wait_for_messages("alice", 3)) == 3
        evicted = 0
        for c in slow:
            c.settimeout(0.2)
            try:
                evicted += c.recv(200).startswith(b"421 4.7.0")
            except (socket.timeout, OSError):
                pass
        # One made room for the first client; its slot then served the next ones.
        assert evicted >= 1, evicted
        lines = s.log_lines()
        assert any("event=stress" in l for l in lines)
        assert any("reason=evicted" in l for l in lines)
    finally:
        for c in slow:
            c.close()


def test_connections_per_network(make_sluice):
    s = make_sluice(config=BASE_CONFIG.replace(
        "connections_per_network = 2000", "connections_per_network = 4")).start()
    conns = []
    try:
        for i in range(4):
            c = socket.create_connection((s.host, s.port), timeout=5,
                                         source_address=("127.0.0.%d" % (10 + i), 0))
            assert c.recv(200).startswith(b"220 ")
            conns.append(c)
        c = socket.create_connection((s.host, s.port), timeout=5,
                                     source_address=("127.0.0.99", 0))
        assert c.recv(200).startswith(b"421 4.7.0"), "a fifth address of the same /24"
        c.close()
        assert timed_send(s, source=("127.0.1.1", 0)) < 2.0  # another /24
    finally:
        for c in conns:
            c.close()


def test_pipelined_noop_flood_is_answered_in_bounded_time_and_memory(lenient_sluice):
    sluice = lenient_sluice
    """100k NOOPs in one pipelined burst: every one answered, quickly, without memory growth."""
    n = 100_000
    before = rss_kb(sluice.proc.pid)
    c = socket.create_connection((sluice.host, sluice.port), timeout=20)
    got = bytearray()
    assert c.recv(200).startswith(b"220 ")

    def reader():
        while got.count(b"\r\n") < n:
            data = c.recv(1 << 20)
            if not data:
                return
            got.extend(data)

    t = threading.Thread(target=reader, daemon=True)
    start = time.monotonic()
    t.start()
    c.sendall(b"NOOP\r\n" * n)
    t.join(30)
    elapsed = time.monotonic() - start
    assert got.count(b"250 2.0.0 Ok\r\n") == n
    assert elapsed < 15, elapsed
    growth = rss_kb(sluice.proc.pid) - before
    assert growth < 64 * 1024, "RSS grew by %d KiB" % growth
    c.sendall(b"QUIT\r\n")
    c.close()
    assert timed_send(sluice) < 2.0


def test_flood_without_reading_is_bounded(lenient_sluice):
    sluice = lenient_sluice
    """A client that floods commands and never reads a reply: the server stops reading when its
    replies back up (TCP flow control) instead of buffering them without bound."""
    before = rss_kb(sluice.proc.pid)
    c = socket.create_connection((sluice.host, sluice.port), timeout=3)
    chunk = b"NOOP\r\n" * 10_000
    sent = 0
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline and sent < 50 * len(chunk):
            c.sendall(chunk)
            sent += len(chunk)
    except (socket.timeout, TimeoutError):
        pass  # the server stopped reading: exactly the point
    time.sleep(0.3)
    growth = rss_kb(sluice.proc.pid) - before
    assert growth < 64 * 1024, "RSS grew by %d KiB after %d bytes of NOOPs" % (growth, sent)
    assert timed_send(sluice) < 2.0
    c.close()


def test_http_post_with_body_disconnects_at_once(sluice):
    c = sluice.connect()
    c.expect(220)
    start = time.monotonic()
    c.send(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nMAIL FROM:<a@b.test>\r\n")
    assert c.closed(timeout=5)
    assert time.monotonic() - start < 1.0
    assert c.buf == b""


BRUTE_LOCKOUT = ('lockout_failures = 5\nlockout_window = "1m"\nlockout_duration = "1m"\n'
                 'failure_delay = "50ms"\nmax_failure_delay = "200ms"\n')


def test_auth_brute_force_locks_out_the_attacker_only(make_sluice):
    """Several connections from 127.0.0.1 hammer AUTH with wrong passwords until the address is
    locked out (and keep hammering); a client from 127.0.0.2 is still served promptly, and its
    correct login works, while the right password from the attacker's address is refused."""
    sub = free_port()
    s = make_sluice(config=secure_config(sub_port=sub, auth_extra=BRUTE_LOCKOUT)).start()
    victim = ("127.0.0.2", 0)
    wrong = "AUTH PLAIN " + b64("\0alice@example.org\0guess")
    stop = threading.Event()
    codes, errors = [], []

    def submission(source=None):
        c = smtplib.SMTP(s.host, sub, timeout=20, source_address=source)
        c.ehlo("client.test")
        c.starttls(context=client_context())
        c.ehlo("client.test")
        return c

    def hammer():
        while not stop.is_set():
            try:
                c = submission()
                try:
                    while not stop.is_set():
                        code = c.docmd(wrong)[0]
                        codes.append(code)
                        if code != 535:
                            break  # 454 (locked out) or the 421 that ends the session
                finally:
                    c.close()
            except (smtplib.SMTPException, OSError) as e:
                # A 421 after the locking 535 closes the session mid-dialogue: expected.
                errors.append(e)

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while 454 not in codes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 454 in codes, codes  # the attacker's address is locked out
        # The attack goes on; a normal client from another address is served at once.
        for _ in range(3):
            assert timed_send(s, source=victim) < 2.0
        start = time.monotonic()
        c = submission(victim)
        c.login("alice@example.org", PASSWORD)
        c.sendmail("alice@example.org", ["bob@example.org"], b"Subject: ok\r\n\r\nstill in\r\n")
        c.quit()
        assert time.monotonic() - start < 2.0
        # The attacker's address stays locked, even with the right password.
        c = submission()
        code, text = c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0" + PASSWORD))
        assert code == 454 and text.startswith(b"4.7.0"), (code, text)
        c.close()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert set(codes) <= {535, 454, 421}, set(codes)
    assert codes.count(535) >= 4  # failures before (and racing) the lockout
    assert len(s.wait_for_messages("alice", 3)) == 3
    assert len(s.wait_for_messages("bob", 1)) == 1
    assert any("auth_locked" in l for l in s.log_lines())
    # Passwords actually checked for the attacker: the lockout threshold, plus at most the guesses
    # already in flight on the other connections when it struck.
    guesses = [l for l in s.log_lines()
               if "event=auth " in l and "ip=127.0.0.1 " in l and "ok=false" in l]
    assert 5 <= len(guesses) <= 5 + len(threads), guesses
