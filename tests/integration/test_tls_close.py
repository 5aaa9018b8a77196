"""TLS sessions end with a close_notify alert (RFC 8446 6.1), both ways: the server sends one
after its last reply (221 to QUIT, 421 on a timeout or a shutdown, on STARTTLS and on implicit
TLS), and the relay client sends one after the peer's 221. Without it the other side cannot tell
the end of the session from a truncation.

Python's ssl module tells the two apart when suppress_ragged_eofs is False and the context lacks
OP_IGNORE_UNEXPECTED_EOF (Debian's Python 3.11 sets it by default): recv() returns b"" after a
close_notify, and raises an SSLError when the TCP connection just closes (SSLEOFError, "EOF
occurred in violation of protocol"; with OpenSSL 3, "[SSL: UNEXPECTED_EOF_WHILE_READING]").
Every wait is bounded."""
import os
import signal
import socket
import ssl
import threading
import time

from conftest import BASE_CONFIG, free_port
from secure_env import client_context, make_cert, secure_config


class Lines:
    """Reads CRLF lines and SMTP replies from a plain or TLS socket; can switch to TLS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def expect(self, code):
        line = self.reply()
        assert line.startswith(b"%d " % code), "expected %d, got %r" % (code, line)
        return line

    def send(self, data):
        self.sock.sendall(data)

    def wrap(self, ctx, **kw):
        assert self.buf == b"", "bytes before the TLS handshake: %r" % self.buf
        # A TCP close without close_notify must raise an SSLError, not look like a clean end.
        ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        self.sock = ctx.wrap_socket(self.sock, suppress_ragged_eofs=False, **kw)
        return self.sock


def how_it_ends(tls_sock, timeout=5):
    """After the last reply: "close_notify", "truncated" (TCP closed without close_notify),
    "reset" or "open" (nothing within timeout). Other bytes fail the test."""
    tls_sock.settimeout(timeout)
    try:
        data = tls_sock.recv(4096)
    except ssl.SSLEOFError:
        return "truncated"
    except ssl.SSLError as e:
        # Python 3.11 with OpenSSL 3 raises a plain SSLError for the same thing.
        if "UNEXPECTED_EOF" in str(e):
            return "truncated"
        raise
    except ConnectionResetError:
        return "reset"
    except (socket.timeout, TimeoutError):
        return "open"
    assert data == b"", "unexpected bytes after the last reply: %r" % data
    return "close_notify"


def tcp_closed(tls_sock, timeout=1.5):
    """True if the TCP connection under tls_sock has ended (the server did not wait for our
    close_notify, which we never send)."""
    raw = socket.socket(fileno=os.dup(tls_sock.fileno()))
    raw.settimeout(timeout)
    try:
        return raw.recv(1) == b""
    except ConnectionResetError:
        return True
    except (socket.timeout, TimeoutError):
        return False
    finally:
        raw.close()


def starttls_session(s):
    c = Lines(socket.create_connection((s.host, s.port), timeout=10))
    c.expect(220)
    c.send(b"EHLO client.test\r\n")
    c.expect(250)
    c.send(b"STARTTLS\r\n")
    c.expect(220)
    c.wrap(client_context(), server_hostname="mx.test")
    c.send(b"EHLO client.test\r\n")
    c.expect(250)
    return c


def test_quit_after_starttls_ends_with_close_notify(sluice):
    c = starttls_session(sluice)
    c.send(b"QUIT\r\n")
    c.expect(221)
    assert how_it_ends(c.sock) == "close_notify"
    # One-way: the server closes without waiting for a close_notify from us.
    assert tcp_closed(c.sock)
    c.sock.close()


def test_quit_on_implicit_tls_ends_with_close_notify(make_sluice):
    subs = free_port()
    s = make_sluice(config=secure_config(subs_port=subs)).start()
    raw = socket.create_connection((s.host, subs), timeout=10)
    c = Lines(raw)
    c.wrap(client_context(), server_hostname="mx.test")
    c.expect(220)
    c.send(b"EHLO client.test\r\n")
    c.expect(250)
    c.send(b"QUIT\r\n")
    c.expect(221)
    assert how_it_ends(c.sock) == "close_notify"
    c.sock.close()


def test_timeout_421_ends_with_close_notify(make_sluice):
    s = make_sluice(command_timeout="1s").start()
    c = starttls_session(s)
    c.sock.settimeout(5)
    assert c.reply().startswith(b"421 ")
    assert how_it_ends(c.sock) == "close_notify"
    c.sock.close()


def test_shutdown_421_ends_with_close_notify(sluice):
    c = starttls_session(sluice)
    sluice.proc.send_signal(signal.SIGTERM)
    c.sock.settimeout(5)
    assert c.reply().startswith(b"421 ")
    assert how_it_ends(c.sock) == "close_notify"
    c.sock.close()
    assert sluice.proc.wait(10) == 0


def test_client_close_notify_is_answered(sluice):
    """A client that ends the session itself (close_notify, no QUIT) gets ours back."""
    c = starttls_session(sluice)
    c.sock.settimeout(5)
    try:
        plain = c.sock.unwrap()  # sends close_notify and waits for the server's
    except ssl.SSLError as e:
        raise AssertionError("the server closed without close_notify: %s" % e)
    plain.close()


class TlsPeer:
    """One SMTP session on 127.0.0.1 offering STARTTLS (the relay's smarthost): takes the
    message, answers QUIT with 221, then records how the client ended the TLS session."""

    def __init__(self, tmp):
        cert, key = make_cert(tmp, "peer.test")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(15)
        self.port = self.listener.getsockname()[1]
        self.ending = None
        self.quit_at = self.closed_at = None
        self.error = None
        self.data = b""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            c = Lines(conn)
            c.send(b"220 peer.test ESMTP\r\n")
            tls = False
            while True:
                cmd = c.line().upper()
                if cmd.startswith(b"EHLO"):
                    c.send(b"250-peer.test\r\n250 8BITMIME\r\n" if tls
                           else b"250-peer.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
                elif cmd == b"STARTTLS":
                    c.send(b"220 2.0.0 go ahead\r\n")
                    c.wrap(self.ctx, server_side=True)
                    tls = True
                elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT"):
                    c.send(b"250 2.0.0 ok\r\n")
                elif cmd == b"DATA":
                    c.send(b"354 go ahead\r\n")
                    while (line := c.line()) != b".":
                        self.data += line + b"\r\n"
                    c.send(b"250 2.0.0 queued\r\n")
                elif cmd == b"QUIT":
                    c.send(b"221 2.0.0 bye\r\n")
                    self.quit_at = time.monotonic()
                    self.ending = how_it_ends(c.sock, timeout=8) if tls else "plaintext"
                    self.closed_at = time.monotonic()
                    c.sock.close()
                    return
                else:
                    c.send(b"502 5.5.2 no\r\n")
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            self.listener.close()

    def wait(self, timeout=15):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the peer session did not end"
        assert self.error is None, self.error
        return self.ending


RELAY_SMARTHOST = """
[access]
trusted = ["127.0.0.1"]
[relay]
smarthost = "127.0.0.1:%d"
connect_timeout = "2s"
command_timeout = "5s"
data_timeout = "5s"
%s
"""


def relay_one_message(make_sluice, tmp_path, relay_extra):
    peer = TlsPeer(tmp_path)
    s = make_sluice(config=BASE_CONFIG + RELAY_SMARTHOST % (peer.port, relay_extra)).start()
    with socket.create_connection((s.host, s.port), timeout=10) as raw:
        c = Lines(raw)
        c.expect(220)
        for cmd, code in ((b"EHLO client.test", 250), (b"MAIL FROM:<alice@example.org>", 250),
                          (b"RCPT TO:<zoe@far.test>", 250), (b"DATA", 354),
                          (b"Subject: relayed\r\n\r\nhello\r\n.", 250), (b"QUIT", 221)):
            c.send(cmd + b"\r\n")
            c.expect(code)
    ending = peer.wait()
    assert b"Subject: relayed" in peer.data
    s.wait_log(r"event=relay .*rcpt=zoe@far.test .*tls=\"TLSv1\.[23] .*code=250 "
               r".*result=delivered")
    return peer, ending


def test_relay_client_sends_close_notify_after_quit(make_sluice, tmp_path):
    # One message per connection: QUIT follows the transaction at once.
    peer, ending = relay_one_message(make_sluice, tmp_path, "messages_per_connection = 1")
    assert ending == "close_notify"
    assert peer.closed_at - peer.quit_at < 2


def test_relay_client_sends_close_notify_after_idle_quit(make_sluice, tmp_path):
    # The connection waits for more mail, then QUITs when idle_timeout ends.
    peer, ending = relay_one_message(make_sluice, tmp_path, 'idle_timeout = "1s"')
    assert ending == "close_notify"
