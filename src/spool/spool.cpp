// spool.cpp: the durable message store. Messages live in reusable slot files: a commit rewrites a
// free slot in place and fdatasyncs it, so the common case creates no file, renames nothing and
// needs no directory fsync (on this class of machine, file creation after many deletions is the
// single largest kernel cost per message; see docs/queue-format.md). Status records stay in
// append-only per-message files, created only when a delivery is deferred or fails.
//
// Threads: `sync_threads` workers take commits from a queue. A worker that finds one commit writes
// and fdatasyncs its slot; one that finds several (they queued up while the workers were syncing)
// writes them all and makes them durable with one syncfs(): group commit, one device flush and one
// wake-up for the lot instead of one each.
//
// SECURITY: queue IDs become file names only after is_valid_queue_id(); slot files and status
// records are treated as untrusted when read back and fully self-checked (CRC) before use.
#include "spool/spool.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/queue_id.hpp"
#include "common/sync_dir.hpp"
#include "common/thread_name.hpp"

namespace sluice::spool {
namespace {

namespace stdfs = std::filesystem;

CommitResult failure(int err, std::string what) {
    CommitResult r;
    r.ok = false;
    r.err_no = err;
    r.error = std::move(what) + ": " + std::generic_category().message(err);
    return r;
}

void make_dir(const stdfs::path& p) {
    if (::mkdir(p.c_str(), 0700) == 0) return;
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    if (err == EEXIST) err = ENOTDIR;
    throw std::system_error(err, std::generic_category(), "spool: cannot create " + p.string());
}

bool path_exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

// ---- status records ----------------------------------------------------------------------------
//
// One record per line, printable ASCII only, ending in a CRC-32 of everything before it:
//   "R" SP index SP state SP attempts SP next_attempt_us SP error SP crc     (recipient status)
//   "H" SP (0 / 1) SP crc                                                      (held flag)
//   "W" SP 1 SP crc                                           (the "delayed" DSN has been sent)
// error is percent-encoded (bytes outside 0x21..0x7e, and '%'), so it holds no spaces or newlines.
// Each record is appended as "\n" record "\n": the leading newline keeps a record written after a
// torn one (crash mid-append) on a line of its own, so only the torn record is lost.

constexpr char kHex[] = "0123456789abcdef";

void append_crc(std::string& line) {
    std::uint32_t crc = static_cast<std::uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(line.data()),
              static_cast<uInt>(line.size())));
    char text[8];
    for (int i = 7; i >= 0; --i) {
        text[i] = kHex[crc & 0xf];
        crc >>= 4;
    }
    line.append(text, 8);
}

template <typename Int>
void append_int(std::string& out, Int v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, end);
    out.push_back(' ');
}

void append_escaped(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        if (c > 0x20 && c < 0x7f && c != '%') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    out.push_back(' ');
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool unescape(std::string_view s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return false;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

std::string wrap_record(std::string body) {
    append_crc(body);
    std::string out;
    out.reserve(body.size() + 2);
    out.push_back('\n');
    out.append(body);
    out.push_back('\n');
    return out;
}

std::string status_record(std::size_t index, const RecipientStatus& st) {
    std::string body;
    body.reserve(64 + st.last_error.size());
    body = "R ";
    append_int(body, index);
    append_int(body, static_cast<int>(st.state));
    append_int(body, st.attempts);
    append_int(body, st.next_attempt_us);
    append_escaped(body, st.last_error);
    return wrap_record(std::move(body));
}

std::string held_record(bool held) {
    return wrap_record(held ? "H 1 " : "H 0 ");
}

std::string delay_warned_record() {
    return wrap_record("W 1 ");
}

// Splits a line into space-separated fields (exactly; empty fields are kept).
std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        std::size_t sp = line.find(' ', start);
        if (sp == std::string_view::npos) {
            out.push_back(line.substr(start));
            return out;
        }
        out.push_back(line.substr(start, sp - start));
        start = sp + 1;
    }
}

// Folds status records into `e` (recipients, held, delay_warned). Lines that fail their CRC (a torn
// last record) or do not parse are skipped; the last valid record for each recipient wins.
void fold_status(std::string_view file, QueueEntry& e) {
    std::vector<RecipientStatus>& rcpts = e.recipients;
    std::size_t pos = 0;
    std::string error;
    while (pos < file.size()) {
        std::size_t nl = file.find('\n', pos);
        std::string_view line =
            file.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? file.size() : nl + 1;
        if (line.size() < 10 || line[line.size() - 9] != ' ') continue;
        std::uint32_t want = 0;
        bool hex_ok = true;
        for (char c : line.substr(line.size() - 8)) {
            int v = hex_value(c);
            if (v < 0) hex_ok = false;
            want = (want << 4) | static_cast<std::uint32_t>(v < 0 ? 0 : v);
        }
        std::string_view body = line.substr(0, line.size() - 8);
        auto got = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                                    reinterpret_cast<const Bytef*>(body.data()),
                                                    static_cast<uInt>(body.size())));
        if (!hex_ok || got != want) continue;
        auto f = split_fields(body.substr(0, body.size() - 1));  // drop the space before the CRC
        if (f.size() == 2 && f[0] == "H" && (f[1] == "0" || f[1] == "1")) {
            e.held = f[1] == "1";
            continue;
        }
        if (f.size() == 2 && f[0] == "W" && f[1] == "1") {
            e.delay_warned = true;
            continue;
        }
        if (f.size() != 6 || f[0] != "R") continue;
        std::size_t index = 0;
        int state = 0;
        RecipientStatus st;
        if (!parse_int(f[1], index) || !parse_int(f[2], state) || state < 0 || state > 2 ||
            !parse_int(f[3], st.attempts) || !parse_int(f[4], st.next_attempt_us) ||
            !unescape(f[5], error) || index >= rcpts.size()) {
            continue;
        }
        st.state = static_cast<RecipientState>(state);
        st.last_error = error;
        rcpts[index] = std::move(st);
    }
}

// ---- slots ------------------------------------------------------------------------------------
//
// A slot file starts with a 20-byte header: magic "SLQ1" or "FREE", the length of the queue file
// that follows (8 bytes, little-endian), a CRC-32 of that queue file and a CRC-32 of the 16 bytes
// before it (4 bytes each, little-endian). The queue file (format.hpp) carries its own CRC and END
// record too. Bytes after it are the tail of an older, longer message and are ignored. A torn
// rewrite never reads as a message: a new header over an old body (or the reverse) fails the body
// CRC, and a partly written body fails both.

constexpr std::size_t kSlotHeader = 20;

std::uint32_t crc_of(std::string_view d) {
    return static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                            reinterpret_cast<const Bytef*>(d.data()),
                                            static_cast<uInt>(d.size())));
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::string_view in, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    return v;
}

std::string slot_header(std::string_view magic, std::string_view body) {
    std::string h(magic);
    put_le(h, body.size(), 8);
    put_le(h, crc_of(body), 4);
    put_le(h, crc_of(h), 4);
    return h;
}

enum class SlotState { free, message, corrupt };

// Classifies a slot's content; on `message`, *body is the queue file inside it.
SlotState parse_slot(std::string_view data, std::string_view* body) {
    if (data.size() < kSlotHeader || data.substr(0, 4) != "SLQ1") return SlotState::free;
    if (get_le(data.substr(16), 4) != crc_of(data.substr(0, 16))) return SlotState::corrupt;
    const std::uint64_t len = get_le(data.substr(4), 8);
    if (len > data.size() - kSlotHeader) return SlotState::corrupt;
    std::string_view b = data.substr(kSlotHeader, static_cast<std::size_t>(len));
    if (get_le(data.substr(12), 4) != crc_of(b)) return SlotState::corrupt;
    *body = b;
    return SlotState::message;
}

std::string slot_name(std::uint32_t n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "s%07u", n);
    return buf;
}

std::optional<std::uint32_t> slot_number(std::string_view name) {
    if (name.size() != 8 || name[0] != 's') return std::nullopt;
    std::uint32_t n = 0;
    auto [p, ec] = std::from_chars(name.data() + 1, name.data() + name.size(), n);
    if (ec != std::errc() || p != name.data() + name.size()) return std::nullopt;
    return n;
}

}  // namespace

// ---- Impl ---------------------------------------------------------------------------------------

struct Spool::Impl {
    struct Job {
        std::shared_ptr<const StoredMessage> msg;
        std::function<void(CommitResult)> done;
    };

    std::shared_ptr<FileOps> fs;
    std::string slot_prefix, status_prefix, corrupt_prefix;
    std::string slot_dir, status_dir;

    // Commits waiting for a worker.
    std::mutex work_mu;
    std::condition_variable work_cv;
    std::deque<Job> work;
    bool stopping = false;
    std::size_t max_batch = 1;  // commits made durable by one sync
    // Message bytes one batch may carry: a few large messages must not make the small ones queued
    // behind them wait for all of their writes.
    static constexpr std::size_t kMaxBatchBytes = 8 * 1024 * 1024;
    static constexpr std::size_t kSlotBlock = 4096;         // slot files grow in whole blocks
    std::vector<std::unique_ptr<FileSystemSync>> fs_syncs;  // one per worker (batch > 1)
    std::vector<std::thread> workers;

    // The index: which slot holds which message, and which slots are free.
    mutable std::mutex idx_mu;
    std::unordered_map<std::string, std::uint32_t> slot_of;
    std::unordered_set<std::string> in_flight;  // commits started, not finished
    std::vector<std::uint32_t> free_slots;
    std::vector<std::uint32_t> unclean_slots;  // a refused commit's cleanup failed: retry first
    // Bytes at the start of each slot file (by number) that this process has synced: their blocks
    // are allocated and on the disk, so a commit that fits in them only rewrites blocks in place
    // (sync_in_place). 0 = not known (a slot from before this start may have a size that a kill
    // left unsynced; its first commit here syncs the size too).
    std::vector<std::uint64_t> synced_bytes;
    std::uint32_t next_slot = 0;
    bool indexed = false;
    // Messages that have (or may have) a status file; removing the others skips an unlink that
    // would only fail with ENOENT (most messages are delivered at the first attempt, no record).
    std::unordered_set<std::string> with_status;
    std::mutex index_once_mu;  // serialises ensure_indexed (taken before idx_mu, never after)
    std::atomic<bool> indexed_once{false};  // `indexed` as seen without a lock, once it is true
    bool inspect_only = false;              // Options::inspect_only: read, never create or repair

    ~Impl() { shutdown(); }

    // Finishes every queued commit, then joins the threads. Idempotent.
    void shutdown() {
        {
            std::lock_guard lk(work_mu);
            stopping = true;
        }
        work_cv.notify_all();
        for (auto& t : workers) {
            if (t.joinable()) t.join();
        }
    }

    static void finish(Job& job, CommitResult r) {
        if (!job.done) return;
        try {
            job.done(std::move(r));
        } catch (...) {
            // A throwing callback must not take a spool thread (and every later commit) down.
        }
    }

    void worker_loop(FileSystemSync* fs_sync) {
        std::vector<Job> batch;
        while (true) {
            batch.clear();
            {
                std::unique_lock lk(work_mu);
                work_cv.wait(lk, [&] { return stopping || !work.empty(); });
                if (work.empty()) return;  // stopping, and everything queued is done
                // Everything that queued up while the other workers were syncing goes out with
                // one file-system sync (group commit); alone, a commit keeps its fdatasync.
                std::size_t bytes = 0;
                while (!work.empty() && batch.size() < max_batch &&
                       (batch.empty() || bytes + message_bytes(work.front()) <= kMaxBatchBytes)) {
                    bytes += message_bytes(work.front());
                    batch.push_back(std::move(work.front()));
                    work.pop_front();
                }
            }
            if (batch.size() == 1 || !fs_sync) {
                for (Job& job : batch) write_one(job);
            } else {
                write_batch(batch, *fs_sync);
            }
        }
    }

    static std::size_t message_bytes(const Job& job) {
        return job.msg ? job.msg->message.size() : 0;
    }

    struct Taken {
        std::uint32_t n;
        bool created;           // a new slot file
        std::uint64_t in_sync;  // synced_bytes of the slot
    };

    // Takes a free slot, or numbers a new one.
    Taken take_slot() {
        std::lock_guard lk(idx_mu);
        if (!free_slots.empty()) {
            const std::uint32_t n = free_slots.back();
            free_slots.pop_back();
            return Taken{n, false, n < synced_bytes.size() ? synced_bytes[n] : 0};
        }
        return Taken{next_slot++, true, 0};
    }

    // The first `bytes` of slot n are synced (a sync that covers the file's size returned).
    void note_synced(std::uint32_t n, std::uint64_t bytes) {
        std::lock_guard lk(idx_mu);
        if (n >= synced_bytes.size()) synced_bytes.resize(n + 1, 0);
        synced_bytes[n] = std::max(synced_bytes[n], bytes);
    }

    void release_slot(std::uint32_t n) {
        std::lock_guard lk(idx_mu);
        free_slots.push_back(n);
    }

    // A message written into a slot, waiting for the sync that makes it durable.
    struct Written {
        Job* job;
        std::uint32_t slot;
        bool created;
        std::uint64_t bytes;  // the slot's bytes written, padding included
    };

    // Claims the ID, encodes the message and takes a slot for it; on failure reports and returns
    // nullopt. `data` receives the slot's bytes.
    std::optional<Taken> prepare(Job& job, std::string& data) {
        if (!job.msg || !is_valid_queue_id(job.msg->envelope.queue_id)) {
            finish(job, failure(EINVAL, "commit: invalid queue id"));
            return std::nullopt;
        }
        const std::string& id = job.msg->envelope.queue_id;
        {
            std::lock_guard lk(idx_mu);
            // IDs are unique by construction; a caller bug must still never replace a message.
            if (slot_of.count(id) || !in_flight.insert(id).second) {
                finish(job, failure(EEXIST, "commit: " + id + " is already in the spool"));
                return std::nullopt;
            }
        }
        try {
            std::string body = encode(*job.msg);
            data.clear();
            data.reserve(kSlotHeader + body.size());
            data = slot_header("SLQ1", body);
            data += body;
        } catch (const std::bad_alloc&) {
            end_flight(id);
            finish(job, failure(ENOMEM, "commit: encode " + id));
            return std::nullopt;
        }
        const Taken slot = take_slot();
        if (data.size() > slot.in_sync) {
            // A slot file that is created or grows is padded to whole blocks: later messages up to
            // that size rewrite it in place, and it never fits in an inode (ext4 inline data,
            // where a rewrite would be metadata). The bytes after the record are never read.
            data.resize((data.size() + kSlotBlock - 1) / kSlotBlock * kSlotBlock, '\0');
        }
        return slot;
    }

    // The bytes of a failed commit may have landed even though its sync failed: make sure the slot
    // can never be read back as a message the client was told we did not take, then report.
    void abandon(Job& job, std::uint32_t n, bool created, int err, const char* what = "write") {
        const std::string path = slot_prefix + slot_name(n);
        if (!(created && err == EEXIST)) {  // EEXIST: a file we never wrote; leave it alone
            const int clean = created ? fs->remove_file(path)
                                      : fs->overwrite_file(path, slot_header("FREE", {}), true);
            if (clean == 0) {
                if (!created) release_slot(n);
            } else {
                // The disk that failed the sync may fail this too. The slot might still read back
                // as the refused message, so it is neither reused nor left: the worker marks it
                // free again before its next commit (a crash before that can only duplicate).
                std::lock_guard lk(idx_mu);
                unclean_slots.push_back(n);
            }
        }
        end_flight(job.msg->envelope.queue_id);
        finish(job, failure(err, std::string("commit: ") + what + " " + path));
    }

    // Retries the FREE mark of slots whose cleanup failed (see abandon); those that succeed become
    // free slots.
    void clean_slots() {
        std::vector<std::uint32_t> todo;
        {
            std::lock_guard lk(idx_mu);
            if (unclean_slots.empty()) return;
            todo.swap(unclean_slots);
        }
        for (std::uint32_t n : todo) {
            if (fs->overwrite_file(slot_prefix + slot_name(n), slot_header("FREE", {}), true) ==
                0) {
                release_slot(n);
            } else {
                std::lock_guard lk(idx_mu);
                unclean_slots.push_back(n);
            }
        }
    }

    void accept(Job& job, std::uint32_t n) {
        {
            std::lock_guard lk(idx_mu);
            in_flight.erase(job.msg->envelope.queue_id);
            slot_of.emplace(job.msg->envelope.queue_id, n);
        }
        finish(job, CommitResult{true, 0, {}});
    }

    // Writes one message into a slot and makes it durable on its own (fdatasync), then reports.
    void write_one(Job& job) {
        clean_slots();
        std::string data;
        const auto slot = prepare(job, data);
        if (!slot) return;
        const auto [n, created, in_sync] = *slot;
        const std::string path = slot_prefix + slot_name(n);
        int err;
        if (created) {
            // A new slot is a new directory entry: the file and the directory both need a sync.
            err = fs->write_file(path, data, true);
            if (err == 0) err = fs->sync_dir(slot_dir);
        } else {
            err = fs->overwrite_file(path, data, true);
        }
        if (err != 0) return abandon(job, n, created, err);
        note_synced(n, data.size());
        accept(job, n);
    }

    // Writes several messages into their slots without syncing each, then makes them all durable
    // together; only then is any of them reported. If the sync fails, none of them is taken.
    void write_batch(std::vector<Job>& jobs, FileSystemSync& fs_sync) {
        clean_slots();
        std::vector<Written> written;
        written.reserve(jobs.size());
        std::string data;
        bool all_in_place = true;
        for (Job& job : jobs) {
            const auto slot = prepare(job, data);
            if (!slot) continue;
            const auto [n, created, in_sync] = *slot;
            const std::string path = slot_prefix + slot_name(n);
            const int err =
                created ? fs->write_file(path, data, false) : fs->overwrite_file(path, data, false);
            if (err != 0) {
                abandon(job, n, created, err);
                continue;
            }
            // Only synced blocks rewritten: no metadata to sync.
            all_in_place = all_in_place && !created && data.size() <= in_sync;
            written.push_back(Written{&job, n, created, data.size()});
        }
        if (written.empty()) return;
        const char* what = "syncfs";
        std::optional<int> err;
        if (all_in_place && fs->overwrites_in_place(fs_sync)) err = sync_in_place(written, what);
        if (!err) {
            // New or growing slot files (or no descriptor at hand): syncfs() writes every data
            // block, new inode and directory block once, then flushes the device cache.
            what = "syncfs";
            err = fs->sync_fs(fs_sync);
            if (*err == 0 && fs_sync.needs_file_flush()) {
                // Not ext4: make sure the device cache is flushed too (FileSystemSync).
                err = fs->sync_file(slot_prefix + slot_name(written.back().slot));
                what = "fdatasync";
            }
        }
        for (const Written& w : written) {
            if (*err != 0) {
                abandon(*w.job, w.slot, w.created, *err, what);
            } else {
                note_synced(w.slot, w.bytes);
                accept(*w.job, w.slot);
            }
        }
    }

    // A batch that only rewrote synced blocks of slot files: their metadata did not change, so
    // writing each slot's pages back (all started, then all waited for) and one fdatasync, whose
    // device cache flush covers every completed write, make the batch durable. Unlike syncfs this
    // writes nothing else of the file system (Maildir copies the delivery threads made) and needs
    // no round trip through the kernel's flusher thread: a shorter wait for the 250. Returns 0 or
    // an errno value; nullopt when a slot's descriptor was not at hand (write_back's EBADF), and
    // the caller syncs the file system instead.
    std::optional<int> sync_in_place(const std::vector<Written>& written, const char*& what) {
        what = "sync_file_range";
        for (bool wait : {false, true}) {
            for (const Written& w : written) {
                const int err = fs->write_back(slot_prefix + slot_name(w.slot), wait);
                if (err == EBADF) return std::nullopt;
                if (err != 0) return err;
            }
        }
        what = "fdatasync";
        return fs->sync_file(slot_prefix + slot_name(written.back().slot));
    }

    void end_flight(const std::string& id) {
        std::lock_guard lk(idx_mu);
        in_flight.erase(id);
    }

    std::optional<std::uint32_t> find(const std::string& id) const {
        std::lock_guard lk(idx_mu);
        auto it = slot_of.find(id);
        if (it == slot_of.end()) return std::nullopt;
        return it->second;
    }

    std::optional<StoredMessage> read_message(const std::string& id) const {
        if (!is_valid_queue_id(id)) return std::nullopt;
        auto n = find(id);
        if (!n) return std::nullopt;
        std::string data;
        const int err = fs->read_file(slot_prefix + slot_name(*n), data);
        check_read(err, slot_prefix + slot_name(*n));
        if (err != 0) return std::nullopt;
        std::string_view body;
        if (parse_slot(data, &body) != SlotState::message) return std::nullopt;
        auto m = decode(body);
        if (!m || m->envelope.queue_id != id) return std::nullopt;
        return m;
    }

    QueueEntry make_entry(StoredMessage&& m) const {
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

    bool append_status(const std::string& id, const std::string& record, bool sync) {
        if (!is_valid_queue_id(id) || !find(id)) return false;
        const std::string path = status_prefix + id;
        // A status file created here needs its directory entry synced too, or a crash may lose it.
        {
            std::lock_guard lk(idx_mu);
            with_status.insert(id);
        }
        const bool created = sync && !path_exists(path);
        if (fs->append_file(path, record, sync) != 0) return false;
        if (created && fs->sync_dir(status_dir) != 0) return false;
        return true;
    }

    // Files in `dir` (names only). An unreadable directory gives an empty list to the server
    // (recovery retries at the next start) and an error to an inspecting CLI.
    std::vector<std::string> list_dir(const std::string& dir) const {
        std::vector<std::string> names;
        std::error_code ec;
        for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator();
             it.increment(ec)) {
            names.push_back(it->path().filename().string());
        }
        if (ec && inspect_only) throw std::system_error(ec, "cannot read " + dir);
        return names;
    }

    // A file read for inspection: gone (delivered meanwhile) is fine, unreadable is an error.
    void check_read(int err, const std::string& path) const {
        if (err != 0 && err != ENOENT && inspect_only)
            throw std::system_error(err, std::generic_category(), "cannot read " + path);
    }

    // Reads every slot. With `repair`, damaged slots are copied to corrupt/ and freed, duplicates
    // freed, and orphan status files deleted; without it nothing on disk changes (CLI use).
    std::vector<QueueEntry> scan(bool repair) {
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
            std::string_view body;
            SlotState st = parse_slot(data, &body);
            std::optional<StoredMessage> m;
            if (st == SlotState::message) {
                m = decode(body);
                if (!m || found.count(m->envelope.queue_id)) st = SlotState::corrupt;
            }
            if (st == SlotState::corrupt && m && found.count(m->envelope.queue_id)) {
                // The same message twice cannot come from us; keep the first, free this one.
                if (repair) fs->overwrite_file(slot_prefix + name, slot_header("FREE", {}), true);
                free_list.push_back(*n);
                continue;
            }
            if (st == SlotState::corrupt) {
                // Never silently dropped: the operator gets the bytes in corrupt/.
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

    // The first caller reads the spool; concurrent first callers wait for that scan rather than
    // scanning again while the first one's commits are already writing slots.
    void ensure_indexed() {
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
};

// ---- Spool --------------------------------------------------------------------------------------

Spool::Spool(Options opts) : dir_(std::move(opts.dir)), impl_(std::make_unique<Impl>()) {
    Impl& im = *impl_;
    im.inspect_only = opts.inspect_only;
    if (im.inspect_only) {
        // Never create a spool where an operator pointed by mistake: say there is none.
        for (const stdfs::path& d : {dir_, dir_ / "slots", dir_ / "status"}) {
            if (::access(d.c_str(), R_OK | X_OK) != 0)
                throw std::system_error(errno, std::generic_category(),
                                        "no readable spool at " + d.string());
        }
    } else {
        stdfs::create_directories(dir_);
        for (const char* sub : {"slots", "status", "corrupt"}) make_dir(dir_ / sub);
    }

    im.fs = opts.fs ? std::move(opts.fs) : std::make_shared<PosixFileOps>();
    const std::string base = dir_.string() + "/";
    im.slot_prefix = base + "slots/";
    im.status_prefix = base + "status/";
    im.corrupt_prefix = base + "corrupt/";
    im.slot_dir = base + "slots";
    im.status_dir = base + "status";
    if (im.inspect_only) return;  // no commits: no sync descriptors, no threads

    // Batches rest on syncfs reporting writeback errors; an older kernel gets one fsync each.
    im.max_batch = syncfs_reports_errors() ? std::max(1u, opts.batch) : 1;
    const unsigned n = std::max(1u, opts.sync_threads);
    if (im.max_batch > 1) {
        // Opened before any commit is written, so every later writeback error reaches them.
        for (unsigned i = 0; i < n; ++i) {
            im.fs_syncs.push_back(std::make_unique<FileSystemSync>(im.slot_dir));
            if (const int err = im.fs_syncs.back()->open_error())
                throw std::system_error(err, std::generic_category(),
                                        "spool: cannot open " + im.slot_dir);
        }
    }
    // If a thread cannot be started, ~Impl (run as impl_ unwinds) joins the ones that did.
    im.workers.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        FileSystemSync* sync = im.fs_syncs.empty() ? nullptr : im.fs_syncs[i].get();
        im.workers.emplace_back([&im, sync] {
            set_thread_name("sluice-spool");
            im.worker_loop(sync);
        });
    }
}

Spool::~Spool() {
    impl_.reset();
}  // ~Impl finishes queued commits and joins

void Spool::commit(std::shared_ptr<const StoredMessage> msg,
                   std::function<void(CommitResult)> done) {
    impl_->ensure_indexed();  // the slot numbers of a spool we have not read yet are unknown
    {
        std::lock_guard lk(impl_->work_mu);
        impl_->work.push_back(Impl::Job{std::move(msg), std::move(done)});
    }
    impl_->work_cv.notify_one();
}

std::vector<QueueEntry> Spool::recover() {
    return impl_->scan(true);
}

std::vector<QueueEntry> Spool::scan() {
    return impl_->scan(false);
}

std::optional<QueueEntry> Spool::load_entry(const std::string& id) const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    auto m = impl_->read_message(id);
    if (!m) return std::nullopt;
    return impl_->make_entry(std::move(*m));
}

std::optional<StoredMessage> Spool::load_message(const std::string& id) const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    return impl_->read_message(id);
}

std::vector<std::string> Spool::list_ids() const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    std::vector<std::string> ids;
    {
        std::lock_guard lk(impl_->idx_mu);
        for (const auto& [id, n] : impl_->slot_of) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

bool Spool::record_status(const std::string& id, std::size_t rcpt_index, const RecipientStatus& st,
                          bool sync) {
    impl_->ensure_indexed();
    return impl_->append_status(id, status_record(rcpt_index, st), sync);
}

bool Spool::set_held(const std::string& id, bool held) {
    impl_->ensure_indexed();
    return impl_->append_status(id, held_record(held), true);
}

bool Spool::set_delay_warned(const std::string& id) {
    impl_->ensure_indexed();
    return impl_->append_status(id, delay_warned_record(), true);
}

bool Spool::remove(const std::string& id) {
    if (!is_valid_queue_id(id)) return false;
    impl_->ensure_indexed();
    auto n = impl_->find(id);
    if (!n) return false;
    // Marked free without a sync: if a crash loses the mark, the message is found again and the
    // delivery layer recognises the copies it already made (docs/queue-format.md).
    const int err = impl_->fs->overwrite_file(impl_->slot_prefix + slot_name(*n),
                                              slot_header("FREE", {}), false);
    if (err != 0) return false;
    bool had_status;
    {
        std::lock_guard lk(impl_->idx_mu);
        had_status = impl_->with_status.erase(id) != 0;
        impl_->slot_of.erase(id);
        impl_->free_slots.push_back(*n);
    }
    if (had_status) impl_->fs->remove_file(impl_->status_prefix + id);
    return true;
}

}  // namespace sluice::spool
