#include "common/queue_id.hpp"

#include <atomic>
#include <random>

namespace sluice {
namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::uint32_t process_salt() {
    std::random_device rd;
    return rd();
}
}  // namespace

std::string new_queue_id(std::int64_t now_us) {
    static const std::uint32_t salt = process_salt();
    static std::atomic<std::uint32_t> counter{0};
    std::uint64_t t = static_cast<std::uint64_t>(now_us);
    // 11 characters (55 bits) of microseconds last until the year 3111; the 25-bit tail is a
    // counter (low 15 bits: unique unless 32768 IDs share one microsecond) and 10 bits of
    // per-process salt.
    std::uint32_t c = counter.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t tail = (static_cast<std::uint64_t>(salt & 0x3ff) << 15) | (c & 0x7fff);
    std::string id(16, '0');
    for (int i = 10; i >= 0; --i) {
        id[i] = kAlphabet[t & 31];
        t >>= 5;
    }
    for (int i = 15; i >= 11; --i) {
        id[i] = kAlphabet[tail & 31];
        tail >>= 5;
    }
    return id;
}

bool is_valid_queue_id(std::string_view s) {
    if (s.size() != 16) return false;
    for (char ch : s) {
        bool ok = (ch >= '0' && ch <= '9') ||
                  (ch >= 'A' && ch <= 'Z' && ch != 'I' && ch != 'L' && ch != 'O' && ch != 'U');
        if (!ok) return false;
    }
    return true;
}

}  // namespace sluice
