#include <fmt/format.h>

#include "fputrace/containers.hpp"
#include "fputrace/diagnosis_out.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

using nlohmann::json;

namespace {

json mount_json(const MountRef& m) {
  json j{{"id", m.id}};
  j["path"] = m.path.empty() ? json(nullptr) : json(m.path);
  // The namespace the kernel named the path in; null: fputrace's own table.
  j["mntns"] = m.mntns ? json(m.mntns) : json(nullptr);
  if (m.detached) j["detached"] = true;
  return j;
}

void put_pin_fields(json& j, const Pin& p) {
  j["origin"] = task_to_json(p.origin);
  if (!p.origin_known) j["origin"]["known"] = false;
  j["source"] = to_string(p.source);
  j["holder"] = to_string(p.holder);
  j["file"] = {{"ino", p.file.ino}, {"path", full_path(p.mount, p.file)}};
  j["since_ns"] = p.since_ns;
  j["holder_since_ns"] = p.holder_since_ns;
  j["confidence"] = to_string(p.confidence);
  j["why"] = p.why;
  if (p.ring) j["ring"] = fmt::format("{:#x}", p.ring);
}

json pins_json(const std::vector<Pin>& pins) {
  json out = json::array();
  for (const Pin& p : pins) out.push_back(pin_to_json(p));
  return out;
}

// The conflicting locks; "pinned": its file's release is deferred (in pins).
json lock_holders_json(const Finding& f) {
  json holders = json::array();
  for (const LockHolder& h : f.lock->holders) {
    bool pinned = false;
    for (const Pin& p : f.pins) pinned = pinned || p.file.ptr == h.file;
    json j{{"pid", h.pid}, {"kind", to_string(h.kind)}, {"write", h.write}, {"ino", h.ino}, {"pinned", pinned}};
    if (h.owner) {
      j["owner"] = task_to_json(h.owner->task);
      j["owner"]["via"] = to_string(h.owner->kind);
      j["owner"]["gone"] = h.owner->gone;
    }
    holders.push_back(std::move(j));
  }
  return holders;
}

json lock_busy_json(const Finding& f) {
  json j;
  j["event"] = "lock_busy";
  j["time_ns"] = f.time_ns;
  j["lock"] = {{"kind", to_string(f.lock->kind)},
               {"write", f.lock->write},
               {"request", lock_request_name(f.lock->kind, f.lock->write)},
               {"errno", "EWOULDBLOCK"}};
  j["file"] = {{"ino", f.target_file.ino}, {"path", full_path(f.mount, f.target_file)}};
  j["mount"] = mount_json(f.mount);
  j["verdict"] = f.verdict;
  j["pins"] = pins_json(f.pins);
  j["holders"] = lock_holders_json(f);
  j["holders_total"] = f.lock->nr_holders;
  if (f.lock->layout_unknown) j["holders_note"] = "this kernel's lock layout is not known: holders not read";
  j["caller"] = task_to_json(f.actor);
  return j;
}

}  // namespace

json task_to_json(const Task& t) {
  json j{{"tgid", t.tgid}, {"tid", t.tid}, {"comm", t.comm}};
  put_task_place(j, t);
  return j;
}

json pin_to_json(const Pin& p) {
  json j = json::object();
  put_pin_fields(j, p);
  return j;
}

json finding_to_json(const Finding& f) {
  json j;
  switch (f.kind) {
    case Finding::Kind::UmountBusy: {
      j["event"] = "umount_busy";
      j["time_ns"] = f.time_ns;
      j["mount"] = mount_json(f.mount);
      json pins = json::array();
      for (const Pin& p : f.pins) pins.push_back(pin_to_json(p));
      j["verdict"] = f.verdict.empty() ? "unknown" : f.verdict;
      if (f.live) {
        json live = live_diagnosis_to_json(*f.live);
        for (auto& h : live["holders"]) pins.push_back(std::move(h));
        j["submounts"] = std::move(live["submounts"]);
        j["propagation"] = std::move(live["propagation"]);
        j["references"] = std::move(live["references"]);
        j["scan"] = {{"done", f.live->scanned}, {"after_ms", f.live->scan_after_ms}};
      }
      j["pins"] = pins;
      j["caller"] = task_to_json(f.actor);
      if (!f.resolved_by.empty()) j["mount"]["resolved_by"] = f.resolved_by;
      if (f.kernel && f.kernel->mount_known) {
        j["mount"]["unique_id"] = f.kernel->mnt_unique;
        j["mount"]["mntns"] = f.kernel->mnt_ns;
      }
      if (!j.contains("references"))
        j["references"] = {{"explained", nullptr}, {"unexplained", nullptr}, {"note", "no diagnosis was made"}};
      break;
    }
    case Finding::Kind::Deferred:
      j["event"] = "deferred";
      j["time_ns"] = f.time_ns;
      j["mount"] = mount_json(f.mount);
      put_pin_fields(j, f.pins.at(0));
      break;
    case Finding::Kind::PinReleased:
      j["event"] = "pin_released";
      j["time_ns"] = f.time_ns;
      j["mount"] = mount_json(f.mount);
      put_pin_fields(j, f.pins.at(0));
      j["held_ns"] = f.held_ns;
      j["after_busy_ns"] = f.after_busy_ns ? json(*f.after_busy_ns) : json(nullptr);
      j["released_by"] = task_to_json(f.actor);
      j["release_confidence"] = to_string(f.release_confidence);
      break;
    case Finding::Kind::LockBusy:
      j = lock_busy_json(f);
      break;
    case Finding::Kind::DetachedPinned: {
      j["event"] = "detached_pinned";
      j["time_ns"] = f.time_ns;
      j["mount"] = mount_json(f.mount);
      j["pins"] = pins_json(f.pins);
      j["caller"] = task_to_json(f.actor);
      break;
    }
    case Finding::Kind::BdevBusy: {
      j["event"] = "bdev_busy";
      j["time_ns"] = f.time_ns;
      j["device"] = {{"dev", dev_name(f.bdev->rdev)},
                     {"path", full_path(f.mount, f.target_file)},
                     {"exclusive", f.bdev->exclusive()}};
      j["verdict"] = f.verdict;
      json pins = json::array();
      for (const Pin& p : f.pins) {
        json pj = pin_to_json(p);
        pj["mount"] = mount_json(p.mount);
        pins.push_back(std::move(pj));
      }
      j["pins"] = pins;
      j["caller"] = task_to_json(f.actor);
      break;
    }
    case Finding::Kind::DetachedReleased:
      j["event"] = "detached_released";
      j["time_ns"] = f.time_ns;
      j["mount"] = mount_json(f.mount);
      j["detached_for_ns"] = f.held_ns;
      j["since"] = f.verdict == "after_umount" ? "umount" : "first_seen";
      j["released_by"] = task_to_json(f.actor);
      j["release_confidence"] = to_string(f.release_confidence);
      break;
    case Finding::Kind::Loss:
      j["event"] = "loss";
      j["time_ns"] = f.time_ns;
      j["records_dropped"] = f.lost_records;
      j["items_untracked"] = f.lost_items;
      break;
  }
  if (f.kind != Finding::Kind::Loss) j["complete"] = f.complete;
  j["backend"] = to_string(f.backend);
  return j;
}

}  // namespace fputrace
