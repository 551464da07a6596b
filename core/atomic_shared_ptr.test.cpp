#include "core/atomic_shared_ptr.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using overlayd::atomic_shared_ptr;

TEST_CASE("atomic_shared_ptr: readers copy while a writer replaces; every copy is a whole, live value") {
  struct value {
    int a, b;  // always equal
  };
  atomic_shared_ptr<const value> p(std::make_shared<const value>(value{0, 0}));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      for (int i = 0; i < 50000 && !stop; ++i) {
        auto v = p.load();
        if (!v || v->a != v->b) ++torn;
      }
    });
  for (int i = 1; i <= 2000; ++i) p.store(std::make_shared<const value>(value{i, i}));
  auto old = p.exchange(std::make_shared<const value>(value{-1, -1}));
  stop = true;
  for (auto& r : readers) r.join();
  CHECK(torn == 0);
  REQUIRE(old);
  CHECK(old->a == 2000);
  CHECK(p.load()->a == -1);
  CHECK(old.use_count() == 1);  // the old value is the caller's alone
}
