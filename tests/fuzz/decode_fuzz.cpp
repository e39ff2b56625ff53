// Fuzz target: the ring-buffer decoder, decode(data, size), on raw bytes of
// struct ft_event (include/fputrace/events.h) of any size. A record it
// accepts has names within the kernel side's bounds and goes into the event
// log and back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fputrace/decode.hpp"
#include "fuzz_support.hpp"

extern "C" {
#include "fputrace/events.h"
}

namespace {
// The smallest record decode() may accept for the type in its first word:
// lock, block-device and umount records have their own structs.
size_t record_size(const uint8_t* data, size_t size) {
  uint32_t type = 0;
  if (size >= sizeof(type)) std::memcpy(&type, data, sizeof(type));
  switch (type) {
    case FT_EV_LOCK_BUSY:
      return sizeof(ft_lock_event);
    case FT_EV_BDEV_BUSY:
      return sizeof(ft_bdev_event);
    case FT_EV_UMOUNT:
      return sizeof(ft_umount_event);
    default:
      return sizeof(ft_event);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fputrace;
  std::optional<Event> e = decode(data, size);
  if (!e) return 0;
  if (size < record_size(data, size)) fuzz::fail("decoded a short record", "");
  if (e->task.comm.size() > FT_COMM_LEN || e->path.size() > FT_UMOUNT_PATH_LEN ||
      (e->owner && e->owner->task.comm.size() > FT_COMM_LEN))
    fuzz::fail("a name is longer than the record holds", fuzz::checked_json(event_to_json(*e)));
  // Each of FT_PATH_DEPTH names, a slash before each, and "/..." when cut.
  constexpr size_t kMaxPath = FT_PATH_DEPTH * (FT_NAME_LEN + 1) + 4;
  if (e->file.path.size() > kMaxPath || e->file.mount_path.size() > kMaxPath)
    fuzz::fail("a path is longer than the record holds", fuzz::checked_json(event_to_json(*e)));
  fuzz::check_round_trip(*e);
  return 0;
}
