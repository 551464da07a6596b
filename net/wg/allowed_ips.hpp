// net/wg/allowed_ips.hpp — longest-prefix-match table (cryptokey routing).
//
//   allowed_ips<V> t(limit);           V: a peer id (uint32_t, pointer...), ==-comparable
//   t.insert(cidr, v)                  host bits are masked; an existing prefix
//                                      is re-pointed to v; errc::exhausted at limit
//   t.remove(cidr) -> bool             exact prefix
//   t.remove_by_value(v) -> count      every prefix of a peer
//   t.lookup(ip) -> const V* or null   longest matching prefix (v4 and v6
//                                      separate; v4-mapped v6 is NOT folded)
//   t.list(v) -> vector<cidr>          a peer's prefixes, canonical, sorted
//                                      (walks the whole table: O(nodes))
//   t.exact(cidr) -> const V* or null  the value of exactly that prefix
//   t.for_each(f)                      f(cidr, value) for every prefix, in
//                                      one walk (v4 first, then v6)
//   t.size(), t.clear()
//
// A binary trie per family over a node pool (indices, no pointers), so the
// table is cheaply copyable: the device builds a new snapshot by copying and
// swaps it atomically. Not thread-safe for writers; concurrent const lookups
// are fine. Namespace overlayd::wg.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::wg {

template <class V>
class allowed_ips {
 public:
  explicit allowed_ips(size_t limit = 1u << 20) : limit_(limit) {
    nodes_.resize(2);  // roots: 0 = v4, 1 = v6
  }

  status insert(const net::cidr& c, V value) {
    if (c.prefix_len() > c.address().bits())
      return error(errc::invalid_argument, "allowed ip " + c.to_string() + ": prefix too long");
    const net::ip_address a = c.network();
    uint32_t n = root(a);
    for (unsigned i = 0; i < c.prefix_len(); ++i) {
      const unsigned b = a.bit(i);
      if (nodes_[n].child[b] == 0) {
        const uint32_t k = alloc();
        nodes_[n].child[b] = k;  // alloc() may reallocate: index, not reference
      }
      n = nodes_[n].child[b];
    }
    if (!nodes_[n].value) {
      if (size_ >= limit_) {
        prune(a, c.prefix_len());
        return error(errc::exhausted, "allowed ips: limit of " + std::to_string(limit_) + " reached");
      }
      ++size_;
    }
    nodes_[n].value = std::move(value);
    return {};
  }

  bool remove(const net::cidr& c) {
    if (c.prefix_len() > c.address().bits()) return false;
    const net::ip_address a = c.network();
    uint32_t n = root(a);
    for (unsigned i = 0; i < c.prefix_len(); ++i) {
      n = nodes_[n].child[a.bit(i)];
      if (n == 0) return false;  // 0 is the v4 root, never a child: "no such node"
    }
    if (!nodes_[n].value) return false;
    nodes_[n].value.reset();
    --size_;
    prune(a, c.prefix_len());
    return true;
  }

  size_t remove_by_value(const V& v) {
    size_t removed = 0;
    for (uint32_t r = 0; r < 2; ++r) removed += remove_rec(r, v);
    size_ -= removed;
    return removed;
  }

  const V* lookup(const net::ip_address& a) const noexcept {
    uint32_t n = root(a);
    const V* best = nodes_[n].value ? &*nodes_[n].value : nullptr;
    for (unsigned i = 0; i < a.bits(); ++i) {
      n = nodes_[n].child[a.bit(i)];
      if (n == 0) break;
      if (nodes_[n].value) best = &*nodes_[n].value;
    }
    return best;
  }

  const V* exact(const net::cidr& c) const noexcept {
    if (c.prefix_len() > c.address().bits()) return nullptr;
    const net::ip_address a = c.network();
    uint32_t n = root(a);
    for (unsigned i = 0; i < c.prefix_len(); ++i) {
      n = nodes_[n].child[a.bit(i)];
      if (n == 0) return nullptr;
    }
    return nodes_[n].value ? &*nodes_[n].value : nullptr;
  }

  template <class F>
  void for_each(F f) const {
    std::array<uint8_t, 16> bits{};
    each_rec(0, bits, 0, false, f);
    bits = {};
    each_rec(1, bits, 0, true, f);
  }

  std::vector<net::cidr> list(const V& v) const {
    std::vector<net::cidr> out;
    std::array<uint8_t, 16> bits{};
    list_rec(0, v, bits, 0, false, out);
    bits = {};
    list_rec(1, v, bits, 0, true, out);
    return out;
  }

  size_t size() const noexcept { return size_; }
  void clear() {
    nodes_.assign(2, node{});
    free_.clear();
    size_ = 0;
  }

 private:
  struct node {
    uint32_t child[2] = {0, 0};  // 0 = none (index 0 is a root, never a child)
    std::optional<V> value;
  };

  static uint32_t root(const net::ip_address& a) noexcept { return a.is_v4() ? 0 : 1; }

  uint32_t alloc() {
    if (!free_.empty()) {
      const uint32_t k = free_.back();
      free_.pop_back();
      nodes_[k] = node{};
      return k;
    }
    nodes_.emplace_back();
    return uint32_t(nodes_.size() - 1);
  }

  // Frees valueless leaves along the path to a/len, bottom-up.
  void prune(const net::ip_address& a, unsigned len) {
    std::vector<uint32_t> path;
    path.reserve(len + 1);
    uint32_t n = root(a);
    path.push_back(n);
    for (unsigned i = 0; i < len; ++i) {
      n = nodes_[n].child[a.bit(i)];
      if (n == 0) return;
      path.push_back(n);
    }
    for (size_t i = path.size() - 1; i > 0; --i) {
      node& x = nodes_[path[i]];
      if (x.value || x.child[0] || x.child[1]) return;
      nodes_[path[i - 1]].child[a.bit(unsigned(i - 1))] = 0;
      free_.push_back(path[i]);
    }
  }

  // Returns the number of values removed below n; frees emptied children.
  size_t remove_rec(uint32_t n, const V& v) {
    size_t removed = 0;
    if (nodes_[n].value && *nodes_[n].value == v) {
      nodes_[n].value.reset();
      ++removed;
    }
    for (int b = 0; b < 2; ++b) {
      const uint32_t c = nodes_[n].child[b];
      if (c == 0) continue;
      removed += remove_rec(c, v);
      const node& x = nodes_[c];
      if (!x.value && !x.child[0] && !x.child[1]) {
        nodes_[n].child[b] = 0;
        free_.push_back(c);
      }
    }
    return removed;
  }

  void list_rec(uint32_t n, const V& v, std::array<uint8_t, 16>& bits, unsigned depth, bool v6,
                std::vector<net::cidr>& out) const {
    auto f = [&](const net::cidr& c, const V& x) {
      if (x == v) out.push_back(c);
    };
    each_rec(n, bits, depth, v6, f);
  }

  template <class F>
  void each_rec(uint32_t n, std::array<uint8_t, 16>& bits, unsigned depth, bool v6, F& f) const {
    if (nodes_[n].value) {
      net::ip_address a = v6 ? net::ip_address::v6(bits)
                             : net::ip_address::v4(std::array<uint8_t, 4>{bits[0], bits[1], bits[2], bits[3]});
      f(net::cidr(a, depth), *nodes_[n].value);
    }
    for (unsigned b = 0; b < 2; ++b) {
      const uint32_t c = nodes_[n].child[b];
      if (c == 0) continue;
      if (b) bits[depth / 8] |= uint8_t(0x80 >> (depth % 8));
      each_rec(c, bits, depth + 1, v6, f);
      if (b) bits[depth / 8] &= uint8_t(~(0x80 >> (depth % 8)));
    }
  }

  std::vector<node> nodes_;
  std::vector<uint32_t> free_;
  size_t size_ = 0;
  size_t limit_;
};

}  // namespace overlayd::wg
