// A first-in-first-out queue that owns no memory while it is empty. An entity actor keeps two queues for its whole
// life, and most entities are idle most of the time; std::deque allocates about 600 bytes as soon as it is built,
// which alone was a third of an idle entity's footprint. This one grows a vector while items are queued and gives
// the memory back once it drains. Single-threaded, like the actor that owns it.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace actorstate::runtime {

template <class T>
class fifo {
public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }

  void push_back(T item) { items_.push_back(std::move(item)); }

  /// Puts `item` before every queued one (an item whose turn was interrupted).
  void push_front(T item) {
    if (head_ > 0)
      items_[--head_] = std::move(item);
    else
      items_.insert(items_.begin(), std::move(item));
  }

  T& front() { return items_[head_]; }

  /// Removes and returns the oldest item.
  T take_front() {
    T item = std::move(items_[head_++]);
    if (empty())
      clear();
    return item;
  }

  /// Removes every item and releases the memory.
  void clear() {
    std::vector<T>{}.swap(items_);
    head_ = 0;
  }

  /// Moves every queued item out, oldest first, leaving the queue empty.
  std::vector<T> take_all() {
    std::vector<T> out;
    out.reserve(size());
    for (size_t i = head_; i < items_.size(); ++i)
      out.push_back(std::move(items_[i]));
    clear();
    return out;
  }

  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }

private:
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace actorstate::runtime
