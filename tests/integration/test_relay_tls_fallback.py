"""Relay to a peer that offers STARTTLS but whose TLS handshake always fails (it answers 220 to
STARTTLS, then sends bytes that are not TLS, or just closes). With [relay] tls = "opportunistic"
the message must still be delivered, in the clear, on a new connection to the same address
without STARTTLS (event=relay_tls_fallback); with tls = "required" nothing may be sent in the
clear: the peer never sees a MAIL command and the message stays queued.

The peer is a small asyncio SMTP server on 127.0.0.9 (nothing else uses that address), found by
MX through the DNS fixture of test_relay. Every wait is bounded."""
import asyncio
import re
import threading

import pytest

from conftest import BASE_CONFIG
from relay_peers import free_port_on
from test_relay import RELAY_CONFIG, dns, send, wait_log  # noqa: F401 (dns is a fixture)

PEER_IP = "127.0.0.9"
EHLO_REPLY = (b"250-badtls.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-STARTTLS\r\n"
              b"250 SIZE 10485760\r\n")


class BrokenTlsPeer:
    """SMTP on PEER_IP:port offering STARTTLS. After its 220 to STARTTLS it waits for the first
    bytes of the client's handshake and answers them with plain text ("garbage"), or closes at
    once ("close"). Without STARTTLS it takes mail like any server. Records every session."""

    def __init__(self, port, mode):
        self.port = port
        self.mode = mode
        self.sessions = []   # one list of command lines per connection
        self.messages = []   # (mail_from line, [rcpt lines], data bytes)
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.handle, PEER_IP, self.port), self.loop)
        self.server = fut.result(5)
        return self

    def stop(self):
        async def close():
            self.server.close()
            # Sessions still open (Sluice keeps an idle connection) end here, not at exit.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def handle(self, reader, writer):
        cmds = []
        self.sessions.append(cmds)
        mail, rcpts = None, []
        try:
            writer.write(b"220 badtls.test ESMTP\r\n")
            await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), 10)
                if not line:
                    break
                cmd = line.decode(errors="replace").rstrip("\r\n")
                cmds.append(cmd)
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    writer.write(EHLO_REPLY)
                elif verb == "STARTTLS":
                    writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                    await writer.drain()
                    if self.mode == "garbage":
                        # Answer the ClientHello (once it has started) with something not TLS.
                        await asyncio.wait_for(reader.read(1), 5)
                        writer.write(b"this is not a TLS record\r\n" * 4)
                        await writer.drain()
                    break
                elif verb == "MAIL":
                    mail, rcpts = cmd, []
                    writer.write(b"250 2.1.0 OK\r\n")
                elif verb == "RCPT":
                    rcpts.append(cmd)
                    writer.write(b"250 2.1.5 OK\r\n")
                elif verb == "DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    data = b""
                    while not (data.endswith(b"\r\n.\r\n") or data == b".\r\n"):
                        chunk = await asyncio.wait_for(reader.readline(), 10)
                        if not chunk:
                            return
                        data += chunk
                    self.messages.append((mail, rcpts, data))
                    writer.write(b"250 2.0.0 OK queued\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    break
                elif verb in ("RSET", "NOOP"):
                    writer.write(b"250 2.0.0 OK\r\n")
                else:
                    writer.write(b"502 5.5.2 not implemented\r\n")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def peer_env(make_sluice, dns):  # noqa: F811
    dns.zone.add("badtls.test", "MX", (10, "mx.badtls.test"))
    dns.zone.add("mx.badtls.test", "A", PEER_IP)
    port = free_port_on([PEER_IP])
    peers = []

    def make(mode, tls):
        peer = BrokenTlsPeer(port, mode).start()
        peers.append(peer)
        cfg = BASE_CONFIG + RELAY_CONFIG.format(forwarder=dns.forwarder, relay_port=port,
                                                relay_extra='tls = "%s"\n' % tls)
        s = make_sluice(config=cfg.replace("{forwarder}", dns.forwarder)).start()
        return s, peer

    yield make
    for p in peers:
        p.stop()


@pytest.mark.parametrize("mode", ["garbage", "close"])
def test_opportunistic_tls_falls_back_to_plaintext(peer_env, mode):
    s, peer = peer_env(mode, "opportunistic")
    send(s, "alice@example.org", ["bob@badtls.test"],
         body=b"Subject: fallback\r\n\r\nin the clear\r\n")
    s.wait_queue_empty()
    assert len(peer.messages) == 1
    mail, rcpts, data = peer.messages[0]
    assert mail.startswith("MAIL FROM:<alice@example.org>")
    assert rcpts == ["RCPT TO:<bob@badtls.test>"]
    assert b"in the clear" in data
    # First connection: STARTTLS, then nothing more (the handshake failed). Second connection,
    # same address: no STARTTLS, the transaction in the clear.
    assert len(peer.sessions) == 2, peer.sessions
    first, second = peer.sessions
    assert first[-1] == "STARTTLS" and not any(c.startswith("MAIL") for c in first)
    assert "STARTTLS" not in second and any(c.startswith("MAIL") for c in second)
    text = wait_log(s, r"event=relay .*rcpt=bob@badtls.test mx=mx.badtls.test ip=127.0.0.9 "
                       r"tls=\"\" .*code=250 .*result=delivered")
    assert re.search(r"event=relay_tls_fallback domain=badtls.test mx=mx.badtls.test "
                     r"ip=127.0.0.9 error=\"TLS handshake with mx.badtls.test\[127.0.0.9\] "
                     r"failed", text), text


@pytest.mark.parametrize("mode", ["garbage", "close"])
def test_required_tls_never_falls_back(peer_env, mode):
    s, peer = peer_env(mode, "required")
    send(s, "alice@example.org", ["bob@badtls.test"],
         body=b"Subject: secret\r\n\r\nnever in the clear\r\n")
    text = wait_log(s, r"event=relay .*rcpt=bob@badtls.test .*code=421 reply=\"421 4.7.5 TLS "
                       r"handshake with mx.badtls.test\[127.0.0.9\] failed.*result=deferred")
    # Let it retry once more (retry_initial is 1s): still no plaintext.
    wait_log(s, r"(?s)result=deferred.*result=deferred")
    assert peer.messages == []
    assert len(peer.sessions) >= 2
    sessions = list(peer.sessions)  # (a third attempt may be under way: check the first two)
    for cmds in sessions[:2]:
        assert cmds and cmds[-1] == "STARTTLS", cmds
    for cmds in sessions:
        assert not any(c.startswith(("MAIL", "RCPT", "DATA")) for c in cmds), cmds
    assert "relay_tls_fallback" not in text
    assert "relay_tls_fallback" not in "\n".join(s.log_lines())
    assert len(s.queue_files()) == 1
