// Raw ring-buffer records, as the BPF side lays them out (events.h), decoded
// into events: sizes, types, names as bytes, paths leaf first, owners.
#include "fputrace/decode.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

extern "C" {
#include "fputrace/events.h"
}

namespace fputrace {
namespace {

// A dentry name in a fixed-size slot, as bpf_probe_read_kernel_str leaves it.
template <size_t N>
void put_name(char (&slot)[N], const std::string& name) {
  std::memset(slot, 0, N);
  std::memcpy(slot, name.data(), std::min(name.size(), N));
}

ft_event deferred_record() {
  ft_event raw{};
  raw.type = FT_EV_DEFERRED;
  raw.backend = FT_BACKEND_FENTRY;
  raw.time_ns = 123456789;
  raw.task.tgid = 40;
  raw.task.tid = 41;
  put_name(raw.task.comm, "kworker/0:1");
  raw.file.ptr = 0xffff888012345600ull;
  raw.file.ino = 77;
  raw.file.mnt_id = 31;
  raw.file.flags = FT_FILE_DESCRIBED;
  put_name(raw.file.names[0], "data");  // leaf first
  put_name(raw.file.names[1], "dir");
  put_name(raw.file.mnt_names[0], "x");
  put_name(raw.file.mnt_names[1], "mnt");
  raw.detail = FT_DEFER_KTHREAD;
  raw.origin.source = FT_SRC_URING_REQ;
  raw.origin.tgid = 300;
  raw.origin.tid = 301;
  raw.origin.ring = 0xffff888000abc000ull;
  raw.origin.flags = FT_ORIGIN_GONE;
  put_name(raw.origin.comm, "db");
  return raw;
}

TEST(Decode, ADeferralCarriesTaskFileAndOwner) {
  ft_event raw = deferred_record();
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, EventType::Deferred);
  EXPECT_EQ(e->backend, Backend::Fentry);
  EXPECT_EQ(e->time_ns, 123456789u);
  EXPECT_EQ(e->task.tgid, 40u);
  EXPECT_EQ(e->task.comm, "kworker/0:1");
  EXPECT_EQ(e->file.ptr, 0xffff888012345600ull);
  EXPECT_EQ(e->file.path, "/dir/data");
  EXPECT_EQ(e->file.mount_path, "/mnt/x");
  EXPECT_EQ(e->detail, static_cast<uint32_t>(FT_DEFER_KTHREAD));
  ASSERT_TRUE(e->owner.has_value());
  EXPECT_EQ(e->owner->kind, OwnerKind::UringRequest);
  EXPECT_EQ(e->owner->task.tid, 301u);
  EXPECT_EQ(e->owner->task.comm, "db");
  EXPECT_TRUE(e->owner->gone);
  EXPECT_FALSE(e->owner->found_at_exit);
}

TEST(Decode, NamesAreBytesNotText) {
  ft_event raw = deferred_record();
  const std::string latin1 = "caf\xe9";    // not UTF-8
  const std::string cut = "\xf0\x9f\x98";  // a 4-byte character cut by BPF
  put_name(raw.file.names[0], latin1);
  put_name(raw.task.comm, cut);
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->file.path, "/dir/" + latin1);
  EXPECT_EQ(e->task.comm, cut);
}

TEST(Decode, AFullNameSlotIsNotReadPastItsEnd) {
  ft_event raw = deferred_record();
  std::memset(raw.file.names[0], 'a', FT_NAME_LEN);  // no terminating zero
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->file.path, "/dir/" + std::string(FT_NAME_LEN, 'a'));
}

TEST(Decode, ATruncatedMountPathSaysSo) {
  ft_event raw = deferred_record();
  raw.file.flags |= FT_FILE_MNT_TRUNCATED;
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->file.mount_path, "/.../mnt/x");
}

TEST(Decode, NoOwnerWhenTheKernelKnewNone) {
  ft_event raw = deferred_record();
  raw.origin = {};
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->owner.has_value());
}

TEST(Decode, AFileThatWasNotDescribedHasNoPath) {
  ft_event raw = deferred_record();
  raw.file.flags = 0;
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->file.ptr, raw.file.ptr);
  EXPECT_TRUE(e->file.path.empty());
}

TEST(Decode, ShortOrUnknownRecordsAreRefused) {
  ft_event raw = deferred_record();
  EXPECT_FALSE(decode(&raw, sizeof(raw) - 1).has_value());
  EXPECT_FALSE(decode(&raw, 2).has_value());
  raw.type = 9999;
  EXPECT_FALSE(decode(&raw, sizeof(raw)).has_value());
  ft_umount_event u{};
  u.type = FT_EV_UMOUNT;
  EXPECT_FALSE(decode(&u, sizeof(u) - 1).has_value());
}

TEST(Decode, AnUmountRecordCarriesTheMountAsTheKernelSawIt) {
  ft_umount_event raw{};
  raw.type = FT_EV_UMOUNT;
  raw.backend = FT_BACKEND_TRACEPOINT;
  raw.task.tgid = 9;
  raw.task.tid = 9;
  put_name(raw.task.comm, "umount");
  raw.ret = -16;  // EBUSY
  put_name(raw.path, "x");
  raw.info = FT_UMOUNT_MOUNT_KNOWN | FT_UMOUNT_REFS_KNOWN | FT_UMOUNT_CWD_KNOWN;
  raw.mnt_id = 31;
  raw.refs = 3;
  put_name(raw.mnt_names[0], "x");
  put_name(raw.mnt_names[1], "mnt");
  put_name(raw.cwd_names[0], "mnt");
  raw.nr_children = 1;
  raw.child_ids[0] = 55;
  put_name(raw.child_names[0], "sub");
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, EventType::Umount);
  EXPECT_EQ(e->backend, Backend::Tracepoint);
  EXPECT_EQ(e->ret, -16);
  EXPECT_EQ(e->path, "x");
  ASSERT_TRUE(e->umount.has_value());
  EXPECT_TRUE(e->umount->mount_known);
  EXPECT_EQ(e->umount->mnt_id, 31u);
  EXPECT_EQ(e->umount->mount_path, "/mnt/x");
  EXPECT_EQ(e->umount->cwd, "/mnt");
  ASSERT_TRUE(e->umount->refs.has_value());
  EXPECT_EQ(*e->umount->refs, 3);
  ASSERT_EQ(e->umount->children.size(), 1u);
  EXPECT_EQ(e->umount->children[0].id, 55);
  EXPECT_EQ(e->umount->children[0].name, "sub");
}

TEST(Decode, AnUmountWithoutTheMountKnownLeavesItUnknown) {
  ft_umount_event raw{};
  raw.type = FT_EV_UMOUNT;
  raw.ret = 0;
  raw.mnt_id = 31;  // not flagged known: ignored
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e.has_value());
  ASSERT_TRUE(e->umount.has_value());
  EXPECT_FALSE(e->umount->mount_known);
  EXPECT_FALSE(e->umount->refs.has_value());
}

}  // namespace
}  // namespace fputrace
