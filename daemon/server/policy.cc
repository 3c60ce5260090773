#include "daemon/server/policy.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace hone {

bool AccessPolicy::IsAdmin(const Peer& peer) const {
  if (peer.uid == 0) return true;
  if (!admin_gid_) return false;
  gid_t admin = *admin_gid_;
  return peer.gid == admin ||
         std::find(peer.groups.begin(), peer.groups.end(), admin) != peer.groups.end();
}

Status AccessPolicy::MaySubmit(const Peer& peer, const JobSpec& spec) const {
  if (spec.HasKind(KnobKind::kScript) && peer.uid != 0)
    return Status::PermissionDenied(
        "script knobs (get_script/set_script) run as root, so only root may submit them");
  if (spec.HasKind(KnobKind::kBuiltin) && !IsAdmin(peer))
    return Status::PermissionDenied(
        "built-in system knobs change the machine for everyone; only root or members of "
        "honed's admin group '" + admin_group_ + "' may tune them (an administrator "
        "adds you: usermod -aG " + admin_group_ + " USER)");
  return Status::OK();
}

Status AccessPolicy::MayActOnJob(const Peer& peer, int64_t job, uid_t owner,
                                 const char* action) const {
  if (peer.uid == 0 || peer.uid == owner || peer.uid == daemon_uid_) return Status::OK();
  return Status::PermissionDenied("job " + std::to_string(job) + " belongs to uid " +
                                  std::to_string(owner) +
                                  "; only its submitter, root or honed's own user may " +
                                  action + " it");
}

Status AccessPolicy::MayChangeKnobs(const Peer& peer, const char* action) const {
  if (IsAdmin(peer)) return Status::OK();
  return Status::PermissionDenied(std::string("only root or honed's admin group '") +
                                  admin_group_ + "' may " + action + " knobs");
}

Status AccessPolicy::MayRunAs(const Peer& peer) const {
  if (daemon_uid_ == 0 || peer.uid == daemon_uid_) return Status::OK();
  return Status::PermissionDenied(
      "honed runs as uid " + std::to_string(daemon_uid_) +
      " and can only run workloads as that user, not as uid " + std::to_string(peer.uid) +
      "; run honed as root (systemctl start honed) or as your own user");
}

Peer ReadPeer(int fd) {
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  } else {
    peer.uid = static_cast<uid_t>(-1);  // unknown: treated as nobody in particular
    peer.gid = static_cast<gid_t>(-1);
  }
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE || groups.size() > 65536) break;
    groups.resize(glen / sizeof(gid_t) + 1);
  }
  return peer;
}
}  // namespace hone
