// sd_notify.hpp: tells the service manager (systemd, with Type=notify) what state the server is
// in: READY=1 once it accepts connections, STOPPING=1 when a shutdown begins, RELOADING=1 and
// READY=1 again around a reload.
//
// The protocol (sd_notify(3)) is one datagram of newline-separated KEY=VALUE lines sent to the
// AF_UNIX socket named in $NOTIFY_SOCKET: a file system path, or an abstract address written with
// a leading '@'. We speak it ourselves instead of linking libsystemd: it is one sendto(), it keeps
// a large library (and everything it pulls in) out of a network-facing process, and the binary
// builds and runs the same on a host without systemd. Without $NOTIFY_SOCKET nothing is sent.
//
// SECURITY: $NOTIFY_SOCKET is trusted as the rest of the environment the operator started the
// server with. Only the server's own state strings are sent, never anything a client wrote.
#pragma once

#include <string>
#include <string_view>

namespace sluice::server {

// Sends `state` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. Returns false if the variable is unset
// or names an address this code does not speak (only AF_UNIX paths and '@' abstract names), or if
// the send failed (logged as a warning: the service manager would otherwise wait for a READY=1
// that never comes). Never throws; safe from any thread.
bool sd_notify(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": systemd 253 and later want the timestamp with RELOADING=1
// (older versions ignore it). Send READY=1 when the reload is done.
std::string sd_reloading_state();

}  // namespace sluice::server
