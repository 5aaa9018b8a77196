"""AUTH under attack (issue 15): parallel guesses cannot outrun the lockout, a login to an account
of one's own does not forgive guesses at another, an account attacked from many addresses is
slowed down (never locked) while its owner keeps working, and long SASL lines (RFC 4954 4)."""
import smtplib
import threading
import time

from conftest import free_port
from secure_env import PASSWORD, b64, client_context, secure_config

FAST = 'failure_delay = "20ms"\nmax_failure_delay = "40ms"\n'


def submission(s, port, source=None):
    c = smtplib.SMTP(s.host, port, timeout=20,
                     source_address=(source, 0) if source else None)
    c.ehlo("client.test")
    c.starttls(context=client_context())
    c.ehlo("client.test")
    return c


def parallel_auth(s, port, attempts):
    """Opens one TLS session per (source, login, password), then sends every AUTH PLAIN at the
    same moment; returns the (code, text) answers in order."""
    clients = [submission(s, port, src) for src, _, _ in attempts]
    barrier = threading.Barrier(len(clients))
    answers = [None] * len(clients)

    def go(i):
        _, login, pw = attempts[i]
        barrier.wait(10)
        answers[i] = clients[i].docmd("AUTH PLAIN " + b64("\0%s\0%s" % (login, pw)))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in clients:
        c.close()
    return answers


def test_parallel_guesses_get_no_more_checks_than_the_lockout(make_sluice):
    sub = free_port()
    s = make_sluice(config=secure_config(
        sub_port=sub, auth_extra='lockout_failures = 5\n' + FAST)).start()
    attempts = [(None, "alice@example.org", "wrong%d" % i) for i in range(19)]
    attempts.insert(7, (None, "alice@example.org", PASSWORD))
    answers = parallel_auth(s, sub, attempts)
    codes = [a[0] for a in answers]
    assert set(codes) <= {235, 535, 454}, answers
    # Only as many passwords were checked as the lockout allows; the rest waited for nothing.
    assert codes.count(535) + codes.count(235) <= 5, codes
    assert codes.count(454) >= 15, codes
    assert any("reason=auth_busy" in l for l in s.log_lines())
    # The address is locked now (5 failures or fewer plus the right one): the right password
    # does not get in either, unless it was among the 5 checked and the address not yet locked.
    if codes.count(535) == 5:
        c = submission(s, sub)
        assert c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0" + PASSWORD))[0] == 454
        c.close()


def test_own_account_login_does_not_forgive_guesses_at_another(make_sluice):
    """One wrong guess at alice, then a good login as bob (the attacker's own account), again and
    again: the guesses at alice still add up to the lockout."""
    sub = free_port()
    s = make_sluice(config=secure_config(
        sub_port=sub, auth_extra='lockout_failures = 3\nlockout_duration = "1m"\n' + FAST)).start()
    codes = []
    for _ in range(4):
        c = submission(s, sub)
        codes.append(c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0guess"))[0])
        c.close()
        c = submission(s, sub)
        codes.append(c.docmd("AUTH PLAIN " + b64("\0bob@example.org\0" + PASSWORD))[0])
        c.close()
    # alice, bob, alice, bob, alice (3rd failure: locked), then everything is refused.
    assert codes == [535, 235, 535, 235, 535, 454, 454, 454], codes
    # A success forgives the account's own failures: bob's typo is gone after his login.


def test_distributed_guesses_at_one_account_are_spaced_and_owner_still_logs_in(make_sluice):
    sub = free_port()
    s = make_sluice(config=secure_config(sub_port=sub, auth_extra=(
        'account_throttle_after = 3\naccount_max_delay = "400ms"\n' + FAST))).start()
    # The owner logs in from home (127.0.0.0/24) once.
    c = submission(s, sub, "127.0.0.1")
    c.login("alice@example.org", PASSWORD)
    c.close()
    # Twenty addresses of another network, one guess each, all at once.
    attempts = [("127.0.1.%d" % (i + 1), "alice@example.org", "guess%d" % i) for i in range(20)]
    answers = parallel_auth(s, sub, attempts)
    codes = [a[0] for a in answers]
    assert set(codes) <= {535, 454}, answers
    assert codes.count(454) >= 8, codes  # most never had their password checked
    assert all(b"for this account" in t for c, t in answers if c == 454), answers
    lines = s.log_lines()
    assert any("event=auth_account_throttled" in l for l in lines)
    assert any("reason=auth_throttled" in l for l in lines)
    # Not a lock: the owner from home logs in at once, with no wait for the attackers' slots.
    start = time.monotonic()
    c = submission(s, sub, "127.0.0.1")
    c.login("alice@example.org", PASSWORD)
    c.close()
    assert time.monotonic() - start < 2.0


def test_plain_login_with_a_370_character_password(make_sluice):
    sub = free_port()
    long_pw = "Long password, " * 24 + "x" * 10  # 370 characters
    assert len(long_pw) == 370
    users = [("alice@example.org", long_pw, [])]
    s = make_sluice(config=secure_config(sub_port=sub, users=users)).start()
    c = submission(s, sub)
    # One AUTH PLAIN line of 533 octets (smtplib's login() would fall back to LOGIN, whose lines
    # are shorter, so the command is sent as is).
    code, text = c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0" + long_pw))
    assert code == 235, (code, text)
    c.sendmail("alice@example.org", ["alice@example.org"], b"Subject: t\r\n\r\nlong\r\n")
    c.quit()
    assert len(s.wait_for_messages("alice", 1)) == 1
    c = submission(s, sub)
    code, text = c.docmd("AUTH PLAIN " + "A" * 12300)
    assert code == 500 and b"too long" in text, (code, text)
    c.close()
