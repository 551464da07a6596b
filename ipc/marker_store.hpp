// marker_store: the one owner of `<data_dir>/agent_network.json` in an
// engine. Every dedicated_transport actor (one per Dedicated service, each
// on its own thread) reads and read-modify-writes the marker through the one
// store the supervisor hands them, so two services set up at once both end
// up in the file (before, each loaded, upserted and saved on its own and the
// later save dropped the earlier one's key).
//
// A marker that does not parse is never overwritten: it is moved aside to
// `agent_network.json.corrupt-<unixtime>` (core/atomic_file.hpp), the
// `on_quarantine` callback reports it (log, /healthz, /metrics), and the
// store goes on from an empty marker. A marker that cannot be read at all
// (EACCES, a symlink) makes every update fail instead: writing over it could
// lose the keys it holds.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "ipc/marker.hpp"

namespace overlayd::ipc {

class marker_store {
 public:
  // Called with (path, where it was moved, why) when a malformed marker is
  // quarantined.
  using quarantine_fn = std::function<void(const std::string&, const std::string&, const std::string&)>;

  explicit marker_store(std::string path, quarantine_fn on_quarantine = {})
      : path_(std::move(path)), on_quarantine_(std::move(on_quarantine)) {}

  const std::string& path() const noexcept { return path_; }

  // The marker as on disk now (empty when absent or quarantined).
  result<network_marker> read();
  // Read-modify-write under the store's lock: `change` edits the current
  // marker and returns whether to save it. The save is atomic; on failure
  // the file keeps its old content and the error is returned.
  status update(const std::function<bool(network_marker&)>& change);

 private:
  result<network_marker> load_locked();

  const std::string path_;
  quarantine_fn on_quarantine_;
  std::mutex mu_;  // guards the file: every read and read-modify-write of it
};

}  // namespace overlayd::ipc
