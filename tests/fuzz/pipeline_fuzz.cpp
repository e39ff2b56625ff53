// Fuzz target: the whole path of `watch`, from ring-buffer records to what it
// prints. The input is a sequence of raw struct ft_event records (a short
// tail is decoded too, and refused); each is decoded, applied to the model
// and logged as `watch --events` logs it, and each finding printed as JSON
// and text, and at the end what Model::finish settles, as watch does after
// draining. Then the log is read back and replayed as `report` does: it must
// explain the same findings, in the same order.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fputrace/decode.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/model.hpp"
#include "fuzz_support.hpp"

extern "C" {
#include "fputrace/events.h"
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fputrace;
  StaticMounts table;
  table.add(MountInfo{1, 0, "/", "ext4", "/dev/root"});  // so the model can tell the root from internal mounts
  std::string log;
  RecordingMounts mounts(table, [&](const MountInfo& m) { log += fuzz::checked_json(mount_to_json(m)) + "\n"; });
  Model model(mounts);
  std::vector<std::string> live;
  for (size_t at = 0; at < size; at += sizeof(ft_event)) {
    std::optional<Event> e = decode(data + at, size - at);
    if (!e) continue;
    for (const Finding& f : model.apply(*e)) live.push_back(fuzz::render(f));
    log += fuzz::checked_json(event_to_json(*e)) + "\n";
  }
  // watch settles what the stream's end decides once it has drained (Model::finish)
  for (const Finding& f : model.finish()) live.push_back(fuzz::render(f));
  std::istringstream in(log);
  std::vector<std::string> replayed;
  try {
    replay(read_event_log(in), [&](const Finding& f) { replayed.push_back(fuzz::render(f)); });
  } catch (const std::invalid_argument& ex) {
    fuzz::fail(std::string("the event log does not read back: ") + ex.what(), log);
  }
  if (live != replayed) {
    std::string both = log + "--- live:\n";
    for (const auto& s : live) both += s + "\n";
    both += "--- replayed:\n";
    for (const auto& s : replayed) both += s + "\n";
    fuzz::fail("replaying the log explains something else than watch did", both);
  }
  return 0;
}
