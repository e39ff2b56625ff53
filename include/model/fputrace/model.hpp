// The model: files, rings, requests, tasks and mounts, rebuilt from decoded
// events. Pure C++: it never touches BPF or the running kernel, so it is
// tested from recorded event sequences.
//
// A *pin* is a file on a mount whose last reference has left the task that
// owned it and has not yet been released by __fput: until then the file keeps
// a reference on its mount and umount fails with EBUSY.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fputrace/capped_map.hpp"
#include "fputrace/event.hpp"
#include "fputrace/live_causes.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

// Where the pin came from: what kept the file alive past its owner.
enum class Source { IoUring, Aio, Exit, Close, Other };
// What holds the last reference now.
enum class Holder { IoUring, Aio, TaskWork, DelayedFput };
// Observed: a probe saw the deferral itself. Inferred: deduced from what the
// file was attached to (a ring, a request) and what happened to that.
enum class Confidence { Observed, Inferred };

std::string_view to_string(Source s);
std::string_view to_string(Holder h);
std::string_view to_string(Confidence c);

struct Pin {
  FileRef file;
  MountRef mount;
  Task origin;               // the task the pin came from, not the kworker
  bool origin_known = true;  // false: nobody owned it that we saw
  Source source = Source::Other;
  Holder holder = Holder::DelayedFput;
  Confidence confidence = Confidence::Inferred;
  uint64_t since_ns = 0;         // when the reference left the origin's context
  uint64_t holder_since_ns = 0;  // when the current holder took it
  uint64_t ring = 0;             // io_uring ring or aio context, when relevant
  std::string why;               // one phrase on how the file got here
};

struct Finding {
  // DetachedPinned: umount -l succeeded while pins held the mount, which
  // lives on detached (its filesystem not shut down, its device claimed)
  // until the last pin goes: DetachedReleased, held_ns after the detach.
  enum class Kind { Deferred, UmountBusy, PinReleased, Loss, LockBusy, DetachedPinned, DetachedReleased, BdevBusy };
  Kind kind = Kind::Deferred;
  uint64_t time_ns = 0;
  Backend backend = Backend::Tracepoint;
  MountRef mount;
  std::vector<Pin> pins;                                 // Deferred / PinReleased: exactly one
  Task actor;                                            // umount caller, or the task that released the pin
  uint64_t held_ns = 0;                                  // PinReleased: since_ns .. release
  std::optional<uint64_t> after_busy_ns;                 // PinReleased: time since the last EBUSY
  Confidence release_confidence = Confidence::Observed;  // PinReleased
  // UmountBusy: the leading cause ("deferred_release", "live_holder",
  // "child_mounts", "propagation", "unknown"). The model alone sees only
  // deferred releases; the live collector adds what procfs shows (live).
  std::string verdict;
  std::optional<LiveDiagnosis> live;  // set when a diagnosis was made (apply_diagnosis)
  // UmountBusy: what the kernel side saw at the EBUSY (the mount, its count
  // and children at that instant) when it could; resolved_by says how the
  // mount was found: "kernel", "caller_cwd", "path", or "unresolved".
  std::optional<UmountInfo> kernel;
  std::string resolved_by;
  // LockBusy: the refused request and its file (the caller's); pins are the
  // conflicting locks' files whose release is deferred; verdict is
  // "deferred_release", "other_holder" (a lock on a file with no deferred
  // release we know of) or "unknown" (the holders could not be read).
  std::optional<LockInfo> lock;
  // LockBusy: the caller's file; BdevBusy: the device node it opened.
  FileRef target_file;
  // BdevBusy: the device refused; pins are the deferred releases of files on
  // its filesystem; verdict "deferred_release" (one holds a detached mount of
  // it), "detached_teardown" (its detached mount's last pin went just before:
  // the mount's teardown still holds it), "mounted" (pins only on a mount
  // still attached) or "unknown".
  std::optional<BlockDevInfo> bdev;
  // False when records were lost while the evidence of this finding was
  // gathered: it may miss a cause, or name an old one.
  bool complete = true;
  uint64_t lost_records = 0;  // Loss: records the BPF side dropped (ring buffer full)
  uint64_t lost_items = 0;    // Loss: items its maps refused
};

// Bounds on what the model keeps. State goes away on its own when what it
// describes does (a file released, a ring torn down, its owner's process
// exited); the caps bound what a lost record would otherwise leave behind.
struct ModelLimits {
  size_t files = 131072;    // file states without a pin (4 processes x 19000 registered files fit)
  size_t pins = 131072;     // pins (each one an explanation: evicting one is counted apart)
  size_t rings = 16384;     // io_uring rings with files the model follows
  size_t requests = 65536;  // per-request records (old event logs only)
  size_t mounts = 4096;     // mount points named by the kernel, last EBUSY per mount
  // How long the state of a file whose owner's process exited (and that no
  // pin holds) is kept: a deferral from that exit still finds its origin.
  uint64_t retire_after_ns = 1'000'000'000;
};

// What the caps forced out (ModelLimits). Normal clean-up is not eviction.
struct ModelEvictions {
  uint64_t files = 0;
  uint64_t rings = 0;
  uint64_t requests = 0;
  uint64_t mounts = 0;
  uint64_t pins = 0;     // pins dropped unreleased: EBUSYs after that may lack their explanation
  uint64_t retired = 0;  // not an eviction: states of exited owners' files dropped after the grace time
  uint64_t state() const { return files + rings + requests + mounts; }
};

// How much the model holds now.
struct ModelSize {
  size_t files = 0, pins = 0, rings = 0, requests = 0, mounts = 0;
};

class Model {
 public:
  explicit Model(MountNames& mounts, ModelLimits limits = {});

  // Feeds one event; returns what it newly explains (possibly nothing).
  std::vector<Finding> apply(const Event& e);
  // The record stream ended (watch stops, a log was read to its end): what was
  // waiting for a later record to settle is settled now.
  std::vector<Finding> finish();

  // The pins that hold a mount right now.
  std::vector<Pin> pins_on(int32_t mnt_id) const;
  // The pins on a filesystem (kernel dev_t, FileRef::dev), of any of its
  // mounts, detached ones included; with ino, only those of that inode.
  std::vector<Pin> pins_on_device(uint32_t dev, std::optional<uint64_t> ino = std::nullopt) const;
  size_t pin_count() const { return pins_.size(); }
  ModelEvictions evictions() const;
  ModelSize size() const;

 private:
  struct Origin {
    Task task;
    Source source = Source::Other;
    uint64_t ring = 0;
    bool registered = false;  // a ring's fixed file, not just a request's
    uint64_t time_ns = 0;
    // Registered before fputrace started: found in the ring's file table
    // when the process exited (ring_file with FT_RING_FILE_AT_EXIT).
    bool found_at_exit = false;
  };
  struct FileState {
    FileRef file;
    std::optional<Origin> origin;
    int pending_uring = 0;         // io_uring requests that have not completed
    int pending_aio = 0;           // aio requests that have not completed
    bool done_on_kthread = false;  // a request on it completed on a kernel thread
    uint64_t seq = 0;              // creation order: the oldest is evicted first
    uint64_t retired_at = 0;       // when its owner's process was gone (event time); 0: not retired
  };
  struct RingState {
    Task owner;
    std::set<uint64_t> files;
    std::set<uint64_t> requests;  // old event logs: requests submitted on it
    bool torn_down = false;
    uint64_t exit_started_ns = 0;  // its exit work began (ring_exit); 0: not seen
  };
  struct Request {
    uint64_t file = 0;
    uint64_t ring = 0;
  };
  struct PinEntry {
    Pin pin;
    uint64_t seq = 0;  // creation order, for the cap
  };
  using Key = std::pair<uint64_t, uint64_t>;  // (order, file) in the ordered indexes

  std::vector<Finding> dispatch(const Event& e);
  std::vector<Finding> notice_reuse(const Event& e);
  std::vector<Finding> on_ring_file(const Event& e);
  std::vector<Finding> on_uring_req(const Event& e);
  std::vector<Finding> on_uring_done(const Event& e);
  std::vector<Finding> on_ring_exit(const Event& e, bool end);
  std::vector<Finding> on_aio_submit(const Event& e);
  std::vector<Finding> on_aio_done(const Event& e);
  std::vector<Finding> on_deferred(const Event& e);
  std::vector<Finding> on_released(const Event& e);
  std::vector<Finding> on_delayed_run(const Event& e, bool end);
  std::vector<Finding> on_task_exit(const Event& e);
  std::vector<Finding> on_umount(const Event& e);
  void add_finishing_pins(Finding& busy, const Event& e) const;
  // Pins whose release (__fput) began at most 50 ms before now and that
  // match, newest first, at most `most` of them: __fput drops the mount and
  // removes the locks only after its entry, where the release was seen. Each
  // is marked inferred, its why extended by explain(ms since it began).
  std::vector<Pin> finishing_pins(const std::function<bool(const Pin&)>& match, uint64_t now, size_t most,
                                  const std::function<std::string(double)>& explain) const;
  std::vector<Finding> on_pending_at_exit(const Event& e);
  std::vector<Finding> on_lock_busy(const Event& e);
  // umount -l: the pins stay, the mount is remembered as detached.
  std::vector<Finding> on_detached(const Event& e, const MountRef& mount);
  bool reports_gone_mount(int32_t mnt_id);
  std::vector<Finding> on_bdev_busy(const Event& e);
  // After a release: a detached mount whose last pin went is gone for good.
  void note_detached_releases(std::vector<Finding>& out);
  // The pin that a conflicting lock's file is, if its release is deferred.
  std::optional<Pin> lock_holder_pin(const LockHolder& h, uint64_t now) const;
  // No holder left to read: a pin (or a release just begun) of the refused file's inode.
  std::optional<Pin> same_inode_release(const Event& e) const;
  std::vector<Finding> on_loss(const Event& e);
  // Marks the finding incomplete if a loss falls inside its evidence window.
  void judge_completeness(Finding& f) const;
  bool lost_between(uint64_t from_ns, uint64_t to_ns) const;
  std::optional<Finding> pin_at_exit(const Event& e, uint64_t file, const FileState& fs);
  std::vector<Finding> pins_for_teardown(const Event& e, const RingState& ring, bool end);
  // The kernel side's word on who owns the file, when the record carries it.
  void learn_owner(FileState& fs, const Event& e);
  // "registered with io_uring ring 0x..", saying when the registration was
  // only found at exit.
  static std::string registration(const Origin& o);

  bool internal_mount(const FileRef& f);
  FileState& remember_file(const FileRef& f);
  RingState& ring_of(uint64_t ring, const Task& owner, uint64_t file);
  // Every change of a file's origin goes through here (the per-process index).
  // owner_gone: the origin's process has exited already; no exit will come.
  void set_origin(uint64_t file, FileState& fs, const Origin& o, bool owner_gone = false);
  void unindex_owner(uint64_t file, const FileState& fs);
  // The file's owner is gone and no pin holds it: drop it after the grace time.
  void retire(uint64_t file, FileState& fs, uint64_t now);
  void unretire(uint64_t file, FileState& fs);
  void expire_retired(uint64_t now);
  void enforce_caps();
  void compact_orders();
  MountRef name_mount(int32_t mnt_id);
  uint64_t kernel_mount_ns(int32_t mnt_id) const;
  std::optional<MountRef> mount_at(const std::string& path);
  // The mount a umount event is about, and how it was found.
  std::optional<MountRef> umount_target(const Event& e, std::string& resolved_by);
  // Creates or updates the pin on a file; returns a Deferred finding when the
  // pin is new or its holder changed.
  std::optional<Finding> set_pin(const Event& e, uint64_t file, Holder holder, Confidence confidence,
                                 const std::string& why);
  Pin pin_for(const FileState& fs, const Event& e, Holder holder, Confidence confidence, const std::string& why);
  void add_pin(uint64_t file, Pin pin);
  void set_holder(uint64_t file, Pin& pin, Holder holder, uint64_t now);
  Pin drop_pin(uint64_t file);
  Finding release_pin(uint64_t file, const Event& e, Confidence confidence);
  void forget_file(uint64_t file);
  void drop_ring(uint64_t ring);

  MountNames& mounts_;
  ModelLimits limits_;
  ModelEvictions evicted_;
  uint64_t seq_ = 0;
  // Mount points as the kernel named them in file records: they do not
  // depend on finding the mount in /proc before it goes away.
  CappedMap<int32_t, std::string> kernel_mount_paths_;
  CappedMap<int32_t, uint64_t> kernel_mount_ns_;  // ...and the namespace each holds in
  // Every pinned file has a file state: files_.size() - pins_.size() are unpinned.
  std::map<uint64_t, FileState> files_;  // by struct file address
  // (seq, file) in creation order, for the caps; entries of files gone,
  // pinned or recreated since are skipped when met (and compacted away).
  std::deque<Key> file_order_;
  std::set<Key> retired_;                                           // (retired_at, file)
  std::unordered_map<uint32_t, std::set<uint64_t>> files_of_tgid_;  // by origin, until that process exits
  CappedMap<uint64_t, RingState> rings_;
  CappedMap<uint64_t, Request> requests_;
  std::map<uint64_t, PinEntry> pins_;  // by struct file address
  std::deque<Key> pin_order_;          // (seq, file), like file_order_
  std::map<int32_t, std::set<uint64_t>> pins_on_mount_;
  std::set<Key> queued_;  // (holder_since_ns, file) of pins held by the delayed_fput list
  CappedMap<int32_t, uint64_t> last_busy_ns_;
  // Mounts detached by umount -l (or seen detached in a record), with when:
  // named by where they were, until their last pin is released.
  struct Detached {
    uint64_t since_ns = 0;
    std::string path;
    bool umount_seen = false;  // the umount -l itself was traced
  };
  CappedMap<int32_t, Detached> detached_;
  // Detached mounts whose last pin went lately (time, device, the mount), newest
  // last: their teardown (delayed_mntput, the filesystem's shutdown) follows on
  // a kworker and still claims the device for a moment.
  struct GoneDetached {
    uint64_t time_ns = 0;
    uint32_t dev = 0;
    MountRef mount;
    Pin last_pin;
    bool umount_seen = false;       // its umount -l was traced before it went
    bool late_umount_seen = false;  // its umount -l's record came after it went
  };
  std::deque<GoneDetached> gone_detached_;
  // Pins whose release was seen at __fput's entry, lately, newest last, with
  // that time: __fput drops the mount's reference only at its end, so an
  // EBUSY in between still counts them (add_finishing_pins).
  std::deque<std::pair<uint64_t, Pin>> finishing_;
  // Loss windows [first, last], merged when close, oldest dropped past a cap
  // (then everything before lost_before_ns_ counts as lossy).
  std::vector<std::pair<uint64_t, uint64_t>> losses_;
  uint64_t lost_before_ns_ = 0;
  uint64_t last_event_ns_ = 0;  // the latest record's time (losses excluded)
  uint64_t now_ns_ = 0;         // the time of the event being applied
  CappedMap<int32_t, uint64_t> mount_first_seen_ns_;
  uint64_t delayed_run_started_ns_ = 0;
  bool delayed_run_active_ = false;
  uint64_t last_done_run_started_ns_ = 0;  // the start of the latest delayed_fput run that ended
  Task last_done_run_task_;
  // Tracepoint backend: files a ring's exit work queued for delayed_fput while
  // a run started and ended within that exit work. That run took them, or a
  // later one will: if none has started kSettleNs after the exit work's end,
  // it was that run (settle_teardowns).
  // delayed_fput runs one jiffy after the list gets its first file; on a
  // loaded host its kworker may wait longer.
  static constexpr uint64_t kSettleNs = 500'000'000;
  struct MaybeTaken {
    uint64_t exit_end_ns = 0;
    Task run_task;
  };
  std::map<uint64_t, MaybeTaken> maybe_taken_;  // by file
  uint64_t next_settle_ns_ = 0;                 // when the earliest of them is due
  std::vector<Finding> settle_teardowns(uint64_t now, bool all);
};

// "/mnt/x/dir/file": the mount point joined with the path inside the mount.
std::string full_path(const MountRef& mount, const FileRef& file);

}  // namespace fputrace
