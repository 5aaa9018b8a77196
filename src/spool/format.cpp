// format.cpp: encodes a StoredMessage into the queue file format and decodes it back, without I/O.
//
// Grammar (docs/queue-format.md has the full description):
//   file   = "SLUICE-QUEUE 1\n" *record end
//   record = type length ":" payload "\n"     type: one ASCII letter; length: decimal byte count
//   end    = "Z8:" crc "\n"                   crc: 8 lower-case hex digits, zlib crc32 of every
//   byte
//                                             before the "Z"
// Every envelope field has its own record; each recipient is an R record followed by its O (ORCPT)
// and N (NOTIFY) records; the message is one M record, the last before END.
//
// SECURITY: decode() is written for hostile input (it is fuzzed): it never reads past the buffer,
// it rejects unknown types, duplicates, missing fields, bad numbers, trailing bytes and any CRC
// mismatch. It allocates at most the size of its input.
#include "spool/format.hpp"

#include "spool/crc.hpp"

#include <zlib.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>

namespace sluice::spool {
namespace {

constexpr std::string_view kMagic = "SLUICE-QUEUE 1\n";
constexpr std::size_t kMaxLengthDigits = 12;  // 999 GB: far beyond any file we write

// Record types. Upper-case letters; anything else is unknown and rejected.
constexpr char kQueueId = 'I';
constexpr char kSender = 'S';
constexpr char kRecipient = 'R';
constexpr char kOrcpt = 'O';
constexpr char kNotify = 'N';
constexpr char kHelo = 'H';
constexpr char kClientIp = 'C';
constexpr char kListener = 'L';
constexpr char kProtocol = 'P';
constexpr char kBody = 'B';
constexpr char kSmtputf8 = 'U';
constexpr char kRet = 'T';
constexpr char kEnvid = 'E';
constexpr char kReceivedAt = 'A';
constexpr char kMessage = 'M';
constexpr char kEnd = 'Z';

std::size_t digits(std::size_t n) {
    std::size_t d = 1;
    while (n >= 10) {
        n /= 10;
        ++d;
    }
    return d;
}

std::size_t record_size(std::size_t payload) {
    return 1 + digits(payload) + 1 + payload + 1;
}

void put_record(std::string& out, char type, std::string_view payload) {
    char num[24];
    auto [end, ec] = std::to_chars(num, num + sizeof num, payload.size());
    (void)ec;
    out.push_back(type);
    out.append(num, end);
    out.push_back(':');
    out.append(payload);
    out.push_back('\n');
}

template <typename Int>
std::string_view int_text(char (&buf)[24], Int v) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    return {buf, static_cast<std::size_t>(end - buf)};
}

void put_int(std::string& out, char type, std::int64_t v) {
    char buf[24];
    put_record(out, type, int_text(buf, v));
}

// Strict decimal: non-empty, digits only (optional '-' when signed), no leading zeros, in range.
template <typename Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty() || s.front() == '+') return false;
    std::string_view digits_part = s.front() == '-' ? s.substr(1) : s;
    if (digits_part.empty()) return false;
    if (digits_part.size() > 1 && digits_part.front() == '0') return false;
    if (s.front() == '-' && digits_part == "0") return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

bool fail(std::string* error, const char* what) {
    if (error) *error = what;
    return false;
}

}  // namespace

std::string encode(const StoredMessage& m) {
    const Envelope& e = m.envelope;
    char buf[24];
    std::size_t size = kMagic.size();
    size += record_size(e.queue_id.size()) + record_size(e.sender.size());
    for (const auto& r : e.recipients) {
        size += record_size(r.address.size()) + record_size(r.orcpt.size()) +
                record_size(int_text(buf, unsigned{r.notify}).size());
    }
    size += record_size(e.helo.size()) + record_size(e.client_ip.size()) +
            record_size(e.listener.size()) + record_size(e.protocol.size()) + 3 * record_size(1) +
            record_size(e.envid.size()) + record_size(int_text(buf, e.received_at_us).size()) +
            record_size(m.message.size()) + record_size(8);

    std::string out;
    out.reserve(size);
    out.append(kMagic);
    put_record(out, kQueueId, e.queue_id);
    put_record(out, kSender, e.sender);
    for (const auto& r : e.recipients) {
        put_record(out, kRecipient, r.address);
        put_record(out, kOrcpt, r.orcpt);
        put_int(out, kNotify, r.notify);
    }
    put_record(out, kHelo, e.helo);
    put_record(out, kClientIp, e.client_ip);
    put_record(out, kListener, e.listener);
    put_record(out, kProtocol, e.protocol);
    put_int(out, kBody, static_cast<int>(e.body));
    put_int(out, kSmtputf8, e.smtputf8 ? 1 : 0);
    put_int(out, kRet, static_cast<int>(e.ret));
    put_record(out, kEnvid, e.envid);
    put_int(out, kReceivedAt, e.received_at_us);
    put_record(out, kMessage, m.message);

    std::string crc_text;
    append_crc32_hex(crc_text, crc32_of(out));
    put_record(out, kEnd, crc_text);
    return out;
}

std::optional<StoredMessage> decode(std::string_view file, std::string* error) {
    if (file.size() < kMagic.size() || file.substr(0, kMagic.size()) != kMagic) {
        fail(error, "bad magic or version");
        return std::nullopt;
    }

    StoredMessage m;
    Envelope& e = m.envelope;
    // Which single-valued fields we have seen (indexed by type letter).
    bool seen[26] = {};
    bool have_message = false;
    // Per-recipient O and N must each follow their R exactly once.
    bool rcpt_orcpt = true, rcpt_notify = true;
    std::size_t pos = kMagic.size();

    while (true) {
        const std::size_t record_start = pos;
        if (pos >= file.size()) {
            fail(error, "truncated: no END record");
            return std::nullopt;
        }
        const char type = file[pos++];
        // Length: 1..kMaxLengthDigits decimal digits, then ':'.
        std::size_t len = 0, ndigits = 0;
        while (pos < file.size() && file[pos] >= '0' && file[pos] <= '9') {
            if (++ndigits > kMaxLengthDigits) {
                fail(error, "record length too long");
                return std::nullopt;
            }
            if (ndigits > 1 && len == 0) {
                fail(error, "record length has a leading zero");
                return std::nullopt;
            }
            len = len * 10 + static_cast<std::size_t>(file[pos] - '0');
            ++pos;
        }
        if (ndigits == 0 || pos >= file.size() || file[pos] != ':') {
            fail(error, pos >= file.size() ? "truncated record header" : "malformed record header");
            return std::nullopt;
        }
        ++pos;
        // Payload plus its '\n' must fit in what is left.
        if (len > file.size() - pos || file.size() - pos - len < 1) {
            fail(error, "record length beyond end of file");
            return std::nullopt;
        }
        const std::string_view payload = file.substr(pos, len);
        pos += len;
        if (file[pos] != '\n') {
            fail(error, "record not terminated by newline");
            return std::nullopt;
        }
        ++pos;

        if (type == kEnd) {
            if (len != 8) {
                fail(error, "END record has a bad length");
                return std::nullopt;
            }
            const auto want = parse_crc32_hex(payload);
            if (!want) {
                fail(error, "END record has a bad CRC");
                return std::nullopt;
            }
            if (crc32_of(file.substr(0, record_start)) != *want) {
                fail(error, "CRC mismatch");
                return std::nullopt;
            }
            if (pos != file.size()) {
                fail(error, "trailing bytes after END");
                return std::nullopt;
            }
            break;
        }

        if (have_message) {
            fail(error, "record after the message record");
            return std::nullopt;
        }
        if (type == kRecipient) {
            if (!rcpt_orcpt || !rcpt_notify) {
                fail(error, "recipient without ORCPT/NOTIFY records");
                return std::nullopt;
            }
            e.recipients.push_back(EnvelopeRecipient{std::string(payload), {}, 0});
            rcpt_orcpt = rcpt_notify = false;
            continue;
        }
        if (type == kOrcpt || type == kNotify) {
            bool& flag = type == kOrcpt ? rcpt_orcpt : rcpt_notify;
            if (e.recipients.empty() || flag) {
                fail(error, "ORCPT/NOTIFY record without its recipient");
                return std::nullopt;
            }
            if (type == kOrcpt && rcpt_notify) {
                fail(error, "ORCPT record after NOTIFY");
                return std::nullopt;
            }
            flag = true;
            if (type == kOrcpt) {
                e.recipients.back().orcpt = std::string(payload);
            } else if (!parse_int(payload, e.recipients.back().notify)) {
                fail(error, "bad NOTIFY value");
                return std::nullopt;
            }
            continue;
        }
        if (type == kMessage) {
            m.message = std::string(payload);
            have_message = true;
            continue;
        }

        // Single-valued envelope fields.
        if (type < 'A' || type > 'Z') {
            fail(error, "unknown record type");
            return std::nullopt;
        }
        bool& once = seen[type - 'A'];
        if (once) {
            fail(error, "duplicate record");
            return std::nullopt;
        }
        once = true;
        int small = 0;
        switch (type) {
            case kQueueId:
                e.queue_id = std::string(payload);
                break;
            case kSender:
                e.sender = std::string(payload);
                break;
            case kHelo:
                e.helo = std::string(payload);
                break;
            case kClientIp:
                e.client_ip = std::string(payload);
                break;
            case kListener:
                e.listener = std::string(payload);
                break;
            case kProtocol:
                e.protocol = std::string(payload);
                break;
            case kEnvid:
                e.envid = std::string(payload);
                break;
            case kBody:
                if (!parse_int(payload, small) || small < 0 || small > 2) {
                    fail(error, "bad body type");
                    return std::nullopt;
                }
                e.body = static_cast<BodyType>(small);
                break;
            case kSmtputf8:
                if (!parse_int(payload, small) || small < 0 || small > 1) {
                    fail(error, "bad SMTPUTF8 flag");
                    return std::nullopt;
                }
                e.smtputf8 = small == 1;
                break;
            case kRet:
                if (!parse_int(payload, small) || small < 0 || small > 2) {
                    fail(error, "bad RET value");
                    return std::nullopt;
                }
                e.ret = static_cast<DsnRet>(small);
                break;
            case kReceivedAt:
                if (!parse_int(payload, e.received_at_us)) {
                    fail(error, "bad received-at time");
                    return std::nullopt;
                }
                break;
            default:
                fail(error, "unknown record type");
                return std::nullopt;
        }
    }

    if (!rcpt_orcpt || !rcpt_notify) {
        fail(error, "recipient without ORCPT/NOTIFY records");
        return std::nullopt;
    }
    for (char t : {kQueueId, kSender, kHelo, kClientIp, kListener, kProtocol, kBody, kSmtputf8,
                   kRet, kEnvid, kReceivedAt}) {
        if (!seen[t - 'A']) {
            fail(error, "missing required envelope record");
            return std::nullopt;
        }
    }
    if (e.recipients.empty()) {
        fail(error, "no recipients");
        return std::nullopt;
    }
    if (!have_message) {
        fail(error, "missing message record");
        return std::nullopt;
    }
    if (error) error->clear();
    return m;
}

}  // namespace sluice::spool
