// maildir.hpp: writes one copy of a message into a Maildir (tmp/ -> fsync -> rename into new/ ->
// fsync new/, or the fsyncs batched for many copies with one syncfs), readable by Dovecot and any
// Maildir reader.
//
// File names are "<secs>.Q<queue id>R<n>.<host>,S=<size>": unique per host as the Maildir spec
// asks, and deterministic for a (message, recipient) pair, so a delivery repeated after a crash can
// find the copy it already made (check_existing) instead of delivering twice.
//
// SECURITY: the maildir path comes from the router (config-derived, local parts restricted to a
// safe character set); this module never builds paths from message content. STANDARDS:
// https://cr.yp.to/proto/maildir.html; Dovecot's ",S=" size field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/sync_dir.hpp"

namespace sluice::delivery {

struct MaildirResult {
    bool ok = false;
    bool already_present = false;  // check_existing found the copy: counted as delivered
    bool permanent = false;        // retrying cannot help (e.g. path is not a directory)
    int err_no = 0;
    std::string error;
    // When written with sync = false: the new file in new/ and its file system, so the caller can
    // sync that file system, or remove the file if the sync fails.
    std::string path;
    std::uint64_t device = 0;
};

struct MaildirCopy {
    std::filesystem::path
        maildir;         // the mailbox root (containing tmp/ new/ cur/), created if missing
    std::string unique;  // "<secs>.Q<id>R<n>" (see maildir_unique_name)
    std::string hostname;
    std::string_view prepend;     // header lines to put first (Return-Path, Delivered-To), CRLF
    std::string_view message;     // the stored message, CRLF line endings
    bool crlf_to_lf = true;       // store with LF line endings (Maildir convention)
    bool check_existing = false;  // look in new/ and cur/ for this unique name first
    // true: fsync the file and new/ before returning. false: write and rename only; the caller
    // batches durability with sync_filesystem() and must not count the copy as delivered before.
    // A found copy (check_existing) counts only if it holds exactly the expected bytes, so a copy
    // whose data a power loss took is replaced, not trusted.
    bool sync = true;
};

std::string maildir_unique_name(std::int64_t received_at_us, std::string_view queue_id,
                                std::size_t rcpt_index);

// Blocking; call from a delivery thread, never the event loop.
MaildirResult deliver_maildir(const MaildirCopy& copy);

// syncfs() of the file system holding `path` (common/sync_dir.hpp): makes every copy written there
// with sync = false durable at once.
using ::sluice::sync_filesystem;

}  // namespace sluice::delivery
