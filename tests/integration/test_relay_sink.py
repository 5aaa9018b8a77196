"""Relay against Postfix's smtp-sink as the downstream: its flags inject replies (-r RCPT: a 4xx
to every RCPT; -f DATA with -B: a chosen 5xx to DATA). The DNS fixture of test_relay points
sink.test's MX at 127.0.0.7; the test config retries after about a second."""
import socket
import subprocess
import time

import pytest

from conftest import BASE_CONFIG
from relay_peers import free_port_on
from test_relay import RELAY_CONFIG, dns, send  # noqa: F401 (dns is a fixture)

SMTP_SINK = "/usr/sbin/smtp-sink"
SINK_IP = "127.0.0.7"

pytestmark = pytest.mark.skipif(
    not __import__("os").path.exists(SMTP_SINK), reason="smtp-sink (postfix) not installed")


class SmtpSink:
    """smtp-sink on SINK_IP:port with extra flags; stopped by its own pid."""

    def __init__(self, port, *flags):
        self.port = port
        self.proc = subprocess.Popen([SMTP_SINK, "-u", "nobody", *flags,
                                      "%s:%d" % (SINK_IP, port), "16"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((SINK_IP, port), timeout=1) as s:
                    s.recv(100)
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sink_env(make_sluice, dns):  # noqa: F811
    dns.zone.add("sink.test", "MX", (10, "mx.sink.test"))
    dns.zone.add("mx.sink.test", "A", SINK_IP)
    port = free_port_on([SINK_IP])
    sinks = []

    def sink(*flags):
        s = SmtpSink(port, *flags)
        sinks.append(s)
        return s

    cfg = BASE_CONFIG + RELAY_CONFIG.format(forwarder=dns.forwarder, relay_port=port,
                                            relay_extra="")
    s = make_sluice(config=cfg.replace("{forwarder}", dns.forwarder))
    yield s, sink
    for k in sinks:
        k.stop()


def test_4xx_at_rcpt_then_success_on_retry(sink_env):
    s, sink = sink_env
    first = sink("-r", "RCPT")
    s.start()
    send(s, "alice@example.org", ["bob@sink.test"])
    s.wait_log(r"event=relay .*rcpt=bob@sink.test mx=mx.sink.test ip=127.0.0.7 .*code=450 "
               r".*result=deferred next_retry_s=")
    first.stop()
    sink()
    s.wait_log(r"event=relay .*rcpt=bob@sink.test .*code=250 .*result=delivered", timeout=10)
    s.wait_queue_empty()
    assert s.messages("alice") == []  # no DSN for a delayed-then-delivered message


def test_5xx_at_data_bounces_to_local_sender(sink_env):
    s, sink = sink_env
    sink("-f", "DATA", "-B", "554 5.7.1 no data for you")
    s.start()
    send(s, "alice@example.org", ["bob@sink.test"],
         b"Subject: refused\r\nMessage-ID: <r@t>\r\n\r\nbody\r\n")
    dsn = s.wait_for_messages("alice", 1, timeout=10)[0].decode()
    assert dsn.startswith("Return-Path: <>\n")
    assert "Final-Recipient: rfc822; bob@sink.test" in dsn
    assert "Action: failed" in dsn and "Status: 5.7.1" in dsn
    assert "Remote-MTA: dns; mx.sink.test" in dsn
    assert "Diagnostic-Code: smtp; 554 5.7.1 no data for you" in dsn
    assert "Subject: refused" in dsn
    s.wait_queue_empty()
    s.wait_log(r"event=relay .*rcpt=bob@sink.test .*code=554 .*result=failed")
