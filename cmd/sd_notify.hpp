// systemd readiness notification (sd_notify(3)'s protocol, without
// libsystemd): one datagram to $NOTIFY_SOCKET. A no-op when the variable is
// unset (not started by systemd with Type=notify).
#pragma once

#include <string_view>

namespace overlayd::cmd {

// Sends `state` ("READY=1", "STOPPING=1", ...); returns whether it was sent.
bool sd_notify(std::string_view state);

}  // namespace overlayd::cmd
