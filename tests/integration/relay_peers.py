"""Real peers for the relay tests, all on loopback: an authoritative DNS server (dnslib) that
serves MX/A/AAAA records for test domains, and SMTP sinks (aiosmtpd) on 127.0.0.x whose replies a
test can script (a 4xx for the next DATA, a 5xx for one recipient) and which count sessions.

Every wait is bounded; nothing leaves 127.0.0.0/8."""
import socket
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


def free_port_on(hosts):
    """A TCP port free on every address in hosts (the relay port is the same for all MX)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        ok = True
        for h in hosts:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port")


class Zone(BaseResolver):
    """Answers from a dict: {name: {"MX": [(pref, host)], "A": [...], "AAAA": [...],
    "TXT": ["text", ...], "PTR": ["host", ...]}} (a TXT text longer than 255 octets is sent as
    several character-strings, as zone files split it).
    Names not present are NXDOMAIN; names in `servfail` answer SERVFAIL."""

    def __init__(self):
        self.names = {}
        self.servfail = set()
        self.queries = []

    def add(self, name, rtype, value):
        self.names.setdefault(name.lower().rstrip("."), {}).setdefault(rtype, []).append(value)

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        self.queries.append((name, qtype))
        if name in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in self.names[name].get(qtype, []):
            if qtype == "MX":
                rdata = MX(value[1] if value[1] else ".", value[0])
            elif qtype == "A":
                rdata = A(value)
            elif qtype == "AAAA":
                rdata = AAAA(value)
            elif qtype == "TXT":
                data = value.encode()
                rdata = TXT([data[i:i + 255] for i in range(0, len(data), 255)] or [b""])
            elif qtype == "PTR":
                rdata = PTR(value)
            else:
                continue
            reply.add_answer(RR(q.qname, q.qtype, rdata=rdata, ttl=1))
        return reply


class DnsServer:
    def __init__(self):
        self.zone = Zone()
        self.host = "127.0.0.1"
        self.port = free_udp_tcp_port(self.host)
        quiet = DNSLogger(logf=lambda s: None)
        self.servers = [DNSServer(self.zone, port=self.port, address=self.host, tcp=tcp,
                                  logger=quiet) for tcp in (False, True)]

    @property
    def forwarder(self):
        return "%s@%d" % (self.host, self.port)

    def start(self):
        for s in self.servers:
            s.start_thread()
        return self

    def stop(self):
        for s in self.servers:
            s.stop()


class SinkHandler:
    def __init__(self):
        self.messages = []        # (mail_from, [rcpts], data bytes)
        self.sessions = 0
        self.rcpt_replies = {}    # address -> reply line, e.g. "550 5.1.1 no such user"
        self.data_replies = []    # replies for the next DATAs, used up one by one
        self.mail_options = []
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        self.mail_options.append(list(mail_options))
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 OK queued"


class Sink(Controller):
    """An aiosmtpd server on host:port that counts the sessions it serves."""

    def __init__(self, host, port):
        self.handler = SinkHandler()
        self.greeting_name = "sink-" + host
        super().__init__(self.handler, hostname=host, port=port, ready_timeout=10)

    def factory(self):
        self.handler.sessions += 1
        return SMTP(self.handler, hostname=self.greeting_name, enable_SMTPUTF8=True,
                    decode_data=False)

    def start(self):
        super().start()
        self.handler.sessions = 0  # start() connects once to check the server is up
        return self

    @property
    def messages(self):
        return self.handler.messages

    def wait_messages(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.handler.messages) >= n:
                return self.handler.messages
            time.sleep(0.05)
        raise AssertionError("sink %s: expected %d messages, have %d" %
                             (self.hostname, n, len(self.handler.messages)))
