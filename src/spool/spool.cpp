// spool.cpp: the durable message store: group commit (write tmp/<id>, fsync, rename into queue/,
// one shared fsync of queue/ per batch), recovery at startup, and the append-only status records.
//
// Threads: `sync_threads` workers take commits from a queue and each writes and fsyncs one file at
// a time, so up to that many file fsyncs are in flight and share journal commits. A worker hands
// the renamed file to the one directory syncer, which fsyncs queue/ once for every rename completed
// before that fsync started and then calls `done` for all of them. No thread is created per commit.
//
// SECURITY: queue IDs become file names only after is_valid_queue_id(); files read back (queue
// files, status records) are treated as untrusted and fully self-checked (CRC) before use.
#include "spool/spool.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "common/queue_id.hpp"

namespace sluice::spool {
namespace {

namespace stdfs = std::filesystem;

CommitResult failure(int err, std::string what) {
    CommitResult r;
    r.ok = false;
    r.err_no = err;
    r.error = std::move(what) + ": " + std::strerror(err);
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

// Folds status records into `rcpts` and `held`. Lines that fail their CRC (a torn last record) or
// do not parse are skipped; the last valid record for each recipient wins.
void fold_status(std::string_view file, std::vector<RecipientStatus>& rcpts, bool& held) {
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
            held = f[1] == "1";
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

}  // namespace

// ---- Impl ---------------------------------------------------------------------------------------

struct Spool::Impl {
    struct Job {
        std::shared_ptr<const StoredMessage> msg;
        std::function<void(CommitResult)> done;
    };

    std::shared_ptr<FileOps> fs;
    std::string tmp_prefix, queue_prefix, status_prefix, corrupt_prefix;
    std::string queue_dir, status_dir;

    // Commits waiting for a worker.
    std::mutex work_mu;
    std::condition_variable work_cv;
    std::deque<Job> work;
    bool stopping = false;
    std::vector<std::thread> workers;

    // Renamed files waiting for the shared fsync of queue/.
    std::mutex sync_mu;
    std::condition_variable sync_cv;
    std::vector<Job> renamed;
    bool sync_stopping = false;
    std::thread syncer;

    // IDs whose commit has started but not finished: recover() and list_ids() leave them alone.
    mutable std::mutex flight_mu;
    std::unordered_set<std::string> in_flight;

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
        {
            std::lock_guard lk(sync_mu);
            sync_stopping = true;
        }
        sync_cv.notify_all();
        if (syncer.joinable()) syncer.join();
    }

    bool is_in_flight(const std::string& id) const {
        std::lock_guard lk(flight_mu);
        return in_flight.count(id) != 0;
    }
    void end_flight(const std::string& id) {
        std::lock_guard lk(flight_mu);
        in_flight.erase(id);
    }

    static void finish(Job& job, CommitResult r) {
        if (!job.done) return;
        try {
            job.done(std::move(r));
        } catch (...) {
            // A throwing callback must not take a spool thread (and every later commit) down.
        }
    }

    void worker_loop() {
        while (true) {
            Job job;
            {
                std::unique_lock lk(work_mu);
                work_cv.wait(lk, [&] { return stopping || !work.empty(); });
                if (work.empty()) return;  // stopping, and everything queued is done
                job = std::move(work.front());
                work.pop_front();
            }
            write_one(job);
        }
    }

    // Writes, fsyncs and renames one queue file, then hands it to the syncer (or fails it here).
    void write_one(Job& job) {
        if (!job.msg || !is_valid_queue_id(job.msg->envelope.queue_id)) {
            finish(job, failure(EINVAL, "commit: invalid queue id"));
            return;
        }
        const std::string& id = job.msg->envelope.queue_id;
        bool inserted;
        {
            std::lock_guard lk(flight_mu);
            inserted = in_flight.insert(id).second;
        }
        if (!inserted) {
            finish(job, failure(EEXIST, "commit: " + id + " is already being committed"));
            return;
        }
        const std::string tmp = tmp_prefix + id;
        const std::string dst = queue_prefix + id;
        // IDs are unique by construction; a caller bug must still never replace a committed message
        // (the rename would), nor have the failure cleanup below delete one.
        if (path_exists(dst)) {
            end_flight(id);
            finish(job, failure(EEXIST, "commit: " + dst + " exists"));
            return;
        }
        int err;
        {
            std::string data;
            try {
                data = encode(*job.msg);
            } catch (const std::bad_alloc&) {
                end_flight(id);
                finish(job, failure(ENOMEM, "commit: encode " + id));
                return;
            }
            err = fs->write_file(tmp, data, true);
        }
        if (err != 0) {
            // EEXIST: tmp/<id> is not ours (O_EXCL refused it), so leave it alone.
            if (err != EEXIST) fs->remove_file(tmp);
            end_flight(id);
            finish(job, failure(err, "commit: write " + tmp));
            return;
        }
        err = fs->rename_file(tmp, dst);
        if (err != 0) {
            // Some file systems (NFS) can report a failure for a rename that happened: queue/<id>
            // is ours (IDs are unique and in_flight excludes a concurrent twin), so remove it too.
            fs->remove_file(tmp);
            fs->remove_file(dst);
            end_flight(id);
            finish(job, failure(err, "commit: rename into " + dst));
            return;
        }
        {
            std::lock_guard lk(sync_mu);
            renamed.push_back(std::move(job));
        }
        sync_cv.notify_one();
    }

    void syncer_loop() {
        std::vector<Job> batch;
        while (true) {
            {
                std::unique_lock lk(sync_mu);
                sync_cv.wait(lk, [&] { return sync_stopping || !renamed.empty(); });
                if (renamed.empty()) return;
                batch.swap(renamed);
            }
            // Every rename in `batch` completed before this fsync started, so it covers them all.
            const int err = fs->sync_dir(queue_dir);
            for (Job& job : batch) {
                const std::string& id = job.msg->envelope.queue_id;
                if (err != 0) fs->remove_file(queue_prefix + id);  // not durable: take it back
                end_flight(id);
                finish(job, err != 0 ? failure(err, "commit: fsync " + queue_dir)
                                     : CommitResult{true, 0, {}});
            }
            batch.clear();
        }
    }

    std::optional<StoredMessage> read_message(const std::string& id) const {
        if (!is_valid_queue_id(id)) return std::nullopt;
        std::string data;
        if (fs->read_file(queue_prefix + id, data) != 0) return std::nullopt;
        auto m = decode(data);
        if (!m || m->envelope.queue_id != id) return std::nullopt;
        return m;
    }

    QueueEntry make_entry(StoredMessage&& m) const {
        QueueEntry e;
        e.message_size = m.message.size();
        e.envelope = std::move(m.envelope);
        e.recipients.resize(e.envelope.recipients.size());
        std::string status;
        if (fs->read_file(status_prefix + e.envelope.queue_id, status) == 0) {
            fold_status(status, e.recipients, e.held);
        }
        return e;
    }

    bool append_status(const std::string& id, const std::string& record, bool sync) {
        if (!is_valid_queue_id(id) || !path_exists(queue_prefix + id)) return false;
        const std::string path = status_prefix + id;
        // A status file created here needs its directory entry synced too, or a crash may lose it.
        const bool created = sync && !path_exists(path);
        if (fs->append_file(path, record, sync) != 0) return false;
        if (created && fs->sync_dir(status_dir) != 0) return false;
        return true;
    }

    // Files in `dir` (names only); an unreadable directory gives an empty list.
    static std::vector<std::string> list_dir(const std::string& dir) {
        std::vector<std::string> names;
        std::error_code ec;
        for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator();
             it.increment(ec)) {
            names.push_back(it->path().filename().string());
        }
        return names;
    }

    void move_to_corrupt(const std::string& name) {
        fs->rename_file(queue_prefix + name, corrupt_prefix + name);
        if (path_exists(status_prefix + name)) {
            fs->rename_file(status_prefix + name, corrupt_prefix + name + ".status");
        }
    }
};

// ---- Spool --------------------------------------------------------------------------------------

Spool::Spool(Options opts) : dir_(std::move(opts.dir)), impl_(std::make_unique<Impl>()) {
    stdfs::create_directories(dir_);
    for (const char* sub : {"tmp", "queue", "status", "corrupt"}) make_dir(dir_ / sub);

    Impl& im = *impl_;
    im.fs = opts.fs ? std::move(opts.fs) : std::make_shared<PosixFileOps>();
    const std::string base = dir_.string() + "/";
    im.tmp_prefix = base + "tmp/";
    im.queue_prefix = base + "queue/";
    im.status_prefix = base + "status/";
    im.corrupt_prefix = base + "corrupt/";
    im.queue_dir = base + "queue";
    im.status_dir = base + "status";

    // If a thread cannot be started, ~Impl (run as impl_ unwinds) joins the ones that did.
    const unsigned n = std::max(1u, opts.sync_threads);
    im.syncer = std::thread([&im] { im.syncer_loop(); });
    im.workers.reserve(n);
    for (unsigned i = 0; i < n; ++i) im.workers.emplace_back([&im] { im.worker_loop(); });
}

Spool::~Spool() {
    impl_.reset();
}  // ~Impl finishes queued commits and joins

void Spool::commit(std::shared_ptr<const StoredMessage> msg,
                   std::function<void(CommitResult)> done) {
    {
        std::lock_guard lk(impl_->work_mu);
        impl_->work.push_back(Impl::Job{std::move(msg), std::move(done)});
    }
    impl_->work_cv.notify_one();
}

std::vector<QueueEntry> Spool::recover() {
    Impl& im = *impl_;

    // 1. Leftovers of commits that never reached their rename.
    for (const std::string& name : Impl::list_dir(im.tmp_prefix)) {
        if (!im.is_in_flight(name)) im.fs->remove_file(im.tmp_prefix + name);
    }

    // 2. Every committed message must pass its self-check.
    std::vector<QueueEntry> entries;
    std::set<std::string> valid;
    for (const std::string& name : Impl::list_dir(im.queue_prefix)) {
        if (!is_valid_queue_id(name)) {
            im.move_to_corrupt(name);
            continue;
        }
        if (im.is_in_flight(name)) continue;  // being committed right now: its caller will hear
        std::string data;
        const int err = im.fs->read_file(im.queue_prefix + name, data);
        if (err == ENOENT) continue;  // removed meanwhile
        if (err != 0 && err != EINVAL && err != ELOOP)
            continue;  // I/O error: leave it for next time
        auto m = err == 0 ? decode(data) : std::nullopt;
        if (!m || m->envelope.queue_id != name) {
            im.move_to_corrupt(name);
            continue;
        }
        entries.push_back(im.make_entry(std::move(*m)));
        valid.insert(name);
    }

    // 3. Status files whose message is gone (a crash between the two unlinks of remove()).
    for (const std::string& name : Impl::list_dir(im.status_prefix)) {
        if (valid.count(name) || im.is_in_flight(name) || path_exists(im.queue_prefix + name))
            continue;
        im.fs->remove_file(im.status_prefix + name);
    }

    std::sort(entries.begin(), entries.end(), [](const QueueEntry& a, const QueueEntry& b) {
        return a.envelope.queue_id < b.envelope.queue_id;
    });
    return entries;
}

std::optional<QueueEntry> Spool::load_entry(const std::string& id) const {
    auto m = impl_->read_message(id);
    if (!m) return std::nullopt;
    return impl_->make_entry(std::move(*m));
}

std::optional<StoredMessage> Spool::load_message(const std::string& id) const {
    return impl_->read_message(id);
}

std::vector<std::string> Spool::list_ids() const {
    std::vector<std::string> ids;
    for (std::string& name : Impl::list_dir(impl_->queue_prefix)) {
        if (is_valid_queue_id(name) && !impl_->is_in_flight(name)) ids.push_back(std::move(name));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

bool Spool::record_status(const std::string& id, std::size_t rcpt_index, const RecipientStatus& st,
                          bool sync) {
    return impl_->append_status(id, status_record(rcpt_index, st), sync);
}

bool Spool::set_held(const std::string& id, bool held) {
    return impl_->append_status(id, held_record(held), true);
}

bool Spool::remove(const std::string& id) {
    if (!is_valid_queue_id(id)) return false;
    // Queue file first: a crash in between leaves an orphan status file, which recover() deletes.
    const int err = impl_->fs->remove_file(impl_->queue_prefix + id);
    if (err != 0 && err != ENOENT) return false;
    impl_->fs->remove_file(impl_->status_prefix + id);
    return err == 0;
}

}  // namespace sluice::spool
