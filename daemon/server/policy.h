// Who is asking, and what they may do: the authorization policy of honed, in one
// place. The server reads a Peer from each connection (SO_PEERCRED, SO_PEERGROUPS);
// every request that acts on a job or on the machine is checked here.
//
// - Anyone who can connect may submit jobs with application knobs; their workloads
//   run as themselves.
// - Built-in system knobs change the machine for everyone: root or the admin group.
// - Script knobs (get_script/set_script) run as root: root only.
// - A job may be cancelled or deleted by its submitter, root or honed's own user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace hone {

// Who is on the other end of a connection, from SO_PEERCRED and SO_PEERGROUPS.
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// The peer of a connected Unix socket; uid and gid -1 when the kernel will not say.
Peer ReadPeer(int fd);

class AccessPolicy {
 public:
  // `admin_gid`: members of this group (besides root) may tune and apply built-in
  // system knobs; `admin_group` is its name, for messages. `daemon_uid`: honed's own
  // user (geteuid()).
  AccessPolicy(std::optional<gid_t> admin_gid, uid_t daemon_uid,
               std::string admin_group = "hone-admin")
      : admin_gid_(admin_gid), daemon_uid_(daemon_uid), admin_group_(std::move(admin_group)) {}

  bool IsAdmin(const Peer& peer) const;
  // Whether `peer` may submit a job of this spec (its kinds of knobs).
  Status MaySubmit(const Peer& peer, const JobSpec& spec) const;
  // Whether `peer` may `action` ("cancel", "delete") job `job` of uid `owner`.
  Status MayActOnJob(const Peer& peer, int64_t job, uid_t owner, const char* action) const;
  // Whether `peer` may change system knobs outside a job (`action`: "restore",
  // "apply").
  Status MayChangeKnobs(const Peer& peer, const char* action) const;
  // Whether workloads can run as `peer`: a honed that is not root runs them as
  // itself, so it serves only its own user.
  Status MayRunAs(const Peer& peer) const;

 private:
  std::optional<gid_t> admin_gid_;
  uid_t daemon_uid_;
  std::string admin_group_;
};

}  // namespace hone
