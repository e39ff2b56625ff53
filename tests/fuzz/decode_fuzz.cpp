// Fuzz target: the ring-buffer decoder, decode(data, size), on raw bytes of
// struct ft_event (include/fputrace/events.h) of any size. A record it
// accepts has names within the kernel side's bounds and goes into the event
// log and back unchanged.
#include <cstddef>
#include <cstdint>

#include "fputrace/decode.hpp"
#include "fuzz_support.hpp"

extern "C" {
#include "fputrace/events.h"
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fputrace;
  std::optional<Event> e = decode(data, size);
  if (!e) return 0;
  if (size < sizeof(ft_event)) fuzz::fail("decoded a short record", "");
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
