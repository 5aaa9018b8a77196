// spool_index.cpp: which slot holds which message, reads, status appends, and the startup scan
// that rebuilds the index and repairs what a crash left (see spool.hpp, rules 5-7).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/queue_id.hpp"
#include "common/thread_name.hpp"
#include "spool/slot_file.hpp"
#include "spool/spool_impl.hpp"
#include "spool/status_records.hpp"

namespace sluice::spool {

void Spool::Impl::end_flight(const std::string& id) {
    std::lock_guard lk(idx_mu);
    in_flight.erase(id);
}

std::optional<std::uint32_t> Spool::Impl::find(const std::string& id) const {
    std::lock_guard lk(idx_mu);
    auto it = slot_of.find(id);
    if (it == slot_of.end()) return std::nullopt;
    return it->second;
}

std::optional<StoredMessage> Spool::Impl::read_message(const std::string& id) const {
    if (!is_valid_queue_id(id)) return std::nullopt;
    auto n = find(id);
    if (!n) return std::nullopt;
    std::string data;
    const int err = fs->read_file(slot_prefix + slot_name(*n), data);
    check_read(err, slot_prefix + slot_name(*n));
    if (err != 0) return std::nullopt;
    std::string_view body, streamed;
    if (parse_slot(data, &body, &streamed) != SlotState::message) return std::nullopt;
    auto m = decode(body);
    if (!m || m->envelope.queue_id != id) return std::nullopt;
    m->message.append(streamed);
    return m;
}

QueueEntry Spool::Impl::make_entry(StoredMessage&& m) const {
    QueueEntry e;
    e.message_size = m.message.size();
    e.envelope = std::move(m.envelope);
    e.recipients.resize(e.envelope.recipients.size());
    std::string status;
    const int err = fs->read_file(status_prefix + e.envelope.queue_id, status);
    check_read(err, status_prefix + e.envelope.queue_id);
    if (err == 0) fold_status(status, e);
    return e;
}

bool Spool::Impl::append_status(const std::string& id, const std::string& record, bool sync) {
    if (!is_valid_queue_id(id) || !find(id)) return false;
    const std::string path = status_prefix + id;
    // Rule 6: a status file created here needs its directory entry synced too, or a crash may
    // lose it.
    {
        std::lock_guard lk(idx_mu);
        with_status.insert(id);
    }
    const bool created = sync && !path_exists(path);
    if (fs->append_file(path, record, sync) != 0) return false;
    if (created && fs->sync_dir(status_dir) != 0) return false;
    return true;
}

std::vector<std::string> Spool::Impl::list_dir(const std::string& dir) const {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        names.push_back(it->path().filename().string());
    }
    if (ec && inspect_only) throw std::system_error(ec, "cannot read " + dir);
    return names;
}

void Spool::Impl::check_read(int err, const std::string& path) const {
    if (err != 0 && err != ENOENT && inspect_only)
        throw std::system_error(err, std::generic_category(), "cannot read " + path);
}

std::vector<QueueEntry> Spool::Impl::scan(bool repair) {
    std::vector<QueueEntry> entries;
    std::unordered_map<std::string, std::uint32_t> found;
    std::vector<std::uint32_t> free_list;
    std::uint32_t highest = 0;
    bool any = false;
    for (const std::string& name : list_dir(slot_prefix)) {
        auto n = slot_number(name);
        if (!n) continue;
        any = true;
        highest = std::max(highest, *n);
        std::string data;
        const int err = fs->read_file(slot_prefix + name, data);
        check_read(err, slot_prefix + name);
        if (err != 0) continue;  // unreadable now: neither free nor ours; retried next start
        std::string_view body, streamed;
        SlotState st = parse_slot(data, &body, &streamed);
        std::optional<StoredMessage> m;
        if (st == SlotState::message) {
            m = decode(body);
            if (m) m->message.append(streamed);
            if (!m || found.count(m->envelope.queue_id)) st = SlotState::corrupt;
        }
        if (st == SlotState::corrupt && m && found.count(m->envelope.queue_id)) {
            // The same message twice cannot come from us; keep the first, free this one.
            if (repair) fs->overwrite_file(slot_prefix + name, slot_header("FREE", {}), true);
            free_list.push_back(*n);
            continue;
        }
        if (st == SlotState::corrupt) {
            // Rule 5. Never silently dropped: the operator gets the bytes in corrupt/.
            if (repair) {
                const std::string dst =
                    corrupt_prefix + name + "." + std::to_string(::time(nullptr));
                fs->write_file(dst, data, true);
                fs->overwrite_file(slot_prefix + name, slot_header("FREE", {}), true);
            }
            free_list.push_back(*n);
            continue;
        }
        if (st == SlotState::free) {
            free_list.push_back(*n);
            continue;
        }
        found.emplace(m->envelope.queue_id, *n);
        entries.push_back(make_entry(std::move(*m)));
    }
    {
        // Once commits run, the in-memory index is the truth: a slot being written right now
        // may read as free on disk, so a later read-only scan must not replace the index.
        std::lock_guard lk(idx_mu);
        if (repair || !indexed) {
            slot_of = std::move(found);
            free_slots = std::move(free_list);
            next_slot = any ? highest + 1 : 0;
            indexed = true;
        }
    }
    for (const std::string& name : list_dir(status_prefix)) {
        if (repair && !find(name)) {
            fs->remove_file(status_prefix + name);
            continue;
        }
        std::lock_guard lk(idx_mu);
        with_status.insert(name);
    }
    std::sort(entries.begin(), entries.end(), [](const QueueEntry& a, const QueueEntry& b) {
        return a.envelope.queue_id < b.envelope.queue_id;
    });
    return entries;
}

void Spool::Impl::ensure_indexed() {
    if (indexed_once.load(std::memory_order_acquire)) return;  // every commit asks: no locks
    std::lock_guard scan_lk(index_once_mu);
    bool have_index;
    {
        std::lock_guard lk(idx_mu);
        have_index = indexed;  // recover() may have built it
    }
    if (!have_index) scan(false);
    indexed_once.store(true, std::memory_order_release);
}

}  // namespace sluice::spool
