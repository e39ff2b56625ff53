// A map that keeps at most `cap` entries: creating one more forgets the
// oldest (by creation; updating an entry keeps its place) and counts it. The
// collector runs for days on hosts that churn through files, rings, mounts and
// processes; every table keyed by something the kernel recycles is one of these
// or is dropped explicitly, so nothing grows without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

namespace fputrace {

template <typename K, typename V>
class CappedMap {
 public:
  explicit CappedMap(size_t cap) : cap_(cap ? cap : 1) {}

  // The entry for k, created (as the newest) when missing.
  V& operator[](const K& k) {
    auto it = items_.find(k);
    if (it != items_.end()) return it->second.value;
    if (items_.size() >= cap_) evict_oldest();
    uint64_t seq = ++next_;
    order_.emplace(seq, k);
    return items_.emplace(k, Entry{V{}, seq}).first->second.value;
  }
  V* find(const K& k) {
    auto it = items_.find(k);
    return it == items_.end() ? nullptr : &it->second.value;
  }
  const V* find(const K& k) const {
    auto it = items_.find(k);
    return it == items_.end() ? nullptr : &it->second.value;
  }
  bool contains(const K& k) const { return items_.count(k) != 0; }
  bool erase(const K& k) {
    auto it = items_.find(k);
    if (it == items_.end()) return false;
    order_.erase(it->second.seq);
    items_.erase(it);
    return true;
  }
  // Calls f(key, value) in key order.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [k, e] : items_) f(k, e.value);
  }
  size_t size() const { return items_.size(); }
  // For callers that must act on what goes (close a span, say): when full()
  // before creating an entry, take_oldest() and handle it themselves.
  bool full() const { return items_.size() >= cap_; }
  std::pair<K, V> take_oldest() {
    auto oldest = order_.begin();
    auto it = items_.find(oldest->second);
    std::pair<K, V> out{it->first, std::move(it->second.value)};
    items_.erase(it);
    order_.erase(oldest);
    ++evictions_;
    return out;
  }
  bool empty() const { return items_.empty(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    V value;
    uint64_t seq;
  };
  void evict_oldest() {
    auto oldest = order_.begin();
    items_.erase(oldest->second);
    order_.erase(oldest);
    ++evictions_;
  }

  size_t cap_;
  uint64_t next_ = 0;
  uint64_t evictions_ = 0;
  std::map<K, Entry> items_;
  std::map<uint64_t, K> order_;  // creation order
};

}  // namespace fputrace
