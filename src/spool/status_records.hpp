// status_records.hpp: the records of status/<id>, a message's append-only delivery history.
//
// One record per line, printable ASCII only, ending in a CRC-32 of everything before it:
//   "R" SP index SP state SP attempts SP next_attempt_us SP error SP crc     (recipient status)
//   "H" SP (0 / 1) SP crc                                                      (held flag)
//   "W" SP 1 SP crc                                           (the "delayed" DSN has been sent)
// error is percent-encoded (bytes outside 0x21..0x7e, and '%'), so it holds no spaces or newlines.
// Each record is appended as "\n" record "\n": the leading newline keeps a record written after a
// torn one (crash mid-append) on a line of its own, so only the torn record is lost.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "spool/spool.hpp"

namespace sluice::spool {

// One record, framed for appending ("\n" record "\n").
std::string status_record(std::size_t index, const RecipientStatus& st);
std::string held_record(bool held);
std::string delay_warned_record();

// Folds status records into `e` (recipients, held, delay_warned). Lines that fail their CRC (a torn
// last record) or do not parse are skipped; the last valid record for each recipient wins.
void fold_status(std::string_view file, QueueEntry& e);

}  // namespace sluice::spool
