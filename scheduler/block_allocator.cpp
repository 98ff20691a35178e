#include "scheduler/block_allocator.h"

#include <algorithm>

#include "sharding/error.h"
#include "sharding/hash.h"

namespace meshlm {
namespace {

constexpr uint64_t kRootHash = 0x6d6573686c6d2e6bull;  // the first block's parent hash
constexpr BlockId kRootId = -1;                        // Ref of the (always current) root
constexpr BlockId kNoId = -2;                          // Ref of nothing (never current)

bool same_tokens(std::span<const int32_t> a, std::span<const int32_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace

uint64_t block_hash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = mix64(parent);
  for (int32_t t : tokens) h = splitmix64(h ^ static_cast<uint32_t>(t));
  return h;
}

BlockAllocator::BlockAllocator(int64_t num_blocks, int64_t block_size, bool prefix_caching,
                               BlockHashFn hash)
    : block_size_(block_size), prefix_caching_(prefix_caching), hash_(hash) {
  MESHLM_CHECK(num_blocks >= 1 && num_blocks <= INT32_MAX, "num_blocks " << num_blocks);
  MESHLM_CHECK(block_size >= 1, "block_size " << block_size);
  MESHLM_CHECK(hash != nullptr, "no block hash function");
  blocks_.resize(num_blocks);
  free_.reserve(num_blocks);
  // Back first: blocks are handed out 0, 1, 2, ... from a fresh pool.
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<BlockId>(b));
}

int64_t BlockAllocator::num_free() const {
  return static_cast<int64_t>(free_.size() + evictable_.size());
}
int64_t BlockAllocator::num_used() const {
  return num_blocks() - num_free();
}
int64_t BlockAllocator::num_cached() const {
  return static_cast<int64_t>(evictable_.size());
}

int32_t BlockAllocator::ref_count(BlockId b) const {
  MESHLM_CHECK(b >= 0 && b < num_blocks(), "block " << b);
  return blocks_[b].ref;
}

bool BlockAllocator::is_cached(BlockId b) const {
  MESHLM_CHECK(b >= 0 && b < num_blocks(), "block " << b);
  return blocks_[b].cached;
}

bool BlockAllocator::is_current(const Ref& r) const {
  if (r.id == kRootId) return true;
  if (r.id < 0) return false;
  return blocks_[r.id].cached && blocks_[r.id].gen == r.gen;
}

BlockId BlockAllocator::lookup(uint64_t hash, const Ref& parent,
                               std::span<const int32_t> tokens) const {
  auto it = table_.find(hash);
  if (it == table_.end()) return -1;
  const Block& c = blocks_[it->second];
  // The hash only finds the candidate; the contents and the exact parent decide.
  if (c.parent == parent && same_tokens(c.tokens, tokens)) return it->second;
  return -1;
}

void BlockAllocator::uncache(BlockId b) {
  Block& blk = blocks_[b];
  MESHLM_CHECK(blk.cached, "block " << b << " is not cached");
  auto it = table_.find(blk.hash);
  MESHLM_CHECK(it != table_.end() && it->second == b, "hash table lost block " << b);
  table_.erase(it);
  blk.cached = false;
  ++blk.gen;  // every Ref to it (children's parent, canon of copies) goes stale
  blk.tokens.clear();
  blk.parent = {kNoId, 0};
  if (blk.ref == 0) {
    evictable_.erase(blk.lru_it);
    blk.committed = false;
    free_.push_back(b);
  }
}

std::vector<BlockId> BlockAllocator::walk_prefix(std::span<const int32_t> tokens) const {
  std::vector<BlockId> out;
  if (!prefix_caching_ || tokens.empty()) return out;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  Ref parent{kRootId, 0};
  uint64_t parent_hash = kRootHash;
  for (int64_t k = 0; k < max_blocks; ++k) {
    auto chunk = tokens.subspan(k * block_size_, block_size_);
    const uint64_t h = hash_(parent_hash, chunk);
    const BlockId b = lookup(h, parent, chunk);
    if (b < 0) break;
    out.push_back(b);
    parent = ref_of(b);
    parent_hash = h;
  }
  return out;
}

BlockAllocator::PrefixProbe BlockAllocator::probe_prefix(std::span<const int32_t> tokens) const {
  PrefixProbe probe;
  for (BlockId b : walk_prefix(tokens)) {
    ++probe.blocks;
    if (blocks_[b].ref == 0) ++probe.evictable;
  }
  return probe;
}

std::vector<BlockId> BlockAllocator::match_prefix(std::span<const int32_t> tokens) {
  if (!prefix_caching_) return {};
  std::vector<BlockId> out = walk_prefix(tokens);
  for (BlockId b : out) {
    Block& blk = blocks_[b];
    if (blk.ref == 0) evictable_.erase(blk.lru_it);
    ++blk.ref;
  }
  stats_.queried_tokens += static_cast<int64_t>(tokens.size());
  stats_.hit_tokens += static_cast<int64_t>(out.size()) * block_size_;
  return out;
}

std::optional<BlockId> BlockAllocator::allocate() {
  if (free_.empty()) {
    if (evictable_.empty()) return std::nullopt;
    uncache(evictable_.front());  // least recently released; moves it to free_
  }
  BlockId b = free_.back();
  free_.pop_back();
  Block& blk = blocks_[b];
  MESHLM_CHECK(blk.ref == 0 && !blk.cached, "free block " << b << " is in use");
  blk.ref = 1;
  blk.committed = false;
  blk.hash = 0;
  blk.canon = {kNoId, 0};
  return b;
}

void BlockAllocator::commit_full_block(std::span<const BlockId> table,
                                       std::span<const int32_t> tokens, int64_t index) {
  if (!prefix_caching_) return;
  MESHLM_CHECK(index >= 0 && index < static_cast<int64_t>(table.size()),
               "block index " << index << " of a " << table.size() << "-block table");
  MESHLM_CHECK(static_cast<int64_t>(tokens.size()) >= (index + 1) * block_size_,
               "block " << index << " is not full: " << tokens.size() << " tokens");
  const BlockId b = table[index];
  MESHLM_CHECK(b >= 0 && b < num_blocks() && blocks_[b].ref > 0, "block " << b << " not in use");
  if (blocks_[b].committed) return;

  uint64_t parent_hash = kRootHash;
  Ref parent{kRootId, 0};
  if (index > 0) {
    const Block& p = blocks_[table[index - 1]];
    MESHLM_CHECK(p.committed, "block " << index - 1 << " committed after block " << index);
    parent_hash = p.hash;
    parent = p.canon;
  }
  auto chunk = tokens.subspan(index * block_size_, block_size_);
  Block& blk = blocks_[b];
  blk.hash = hash_(parent_hash, chunk);
  blk.committed = true;
  blk.canon = {kNoId, 0};
  // The prefix before it is not (or no longer) cached: nothing could find it.
  if (!is_current(parent)) return;

  auto it = table_.find(blk.hash);
  if (it != table_.end()) {
    const BlockId e = it->second;
    const Block& existing = blocks_[e];
    if (existing.parent == parent && same_tokens(existing.tokens, chunk)) {
      blk.canon = ref_of(e);  // identical contents cached already: the existing entry wins
      return;
    }
    if (is_current(existing.parent)) return;  // a true hash collision: stay unhashed
    uncache(e);  // an orphan (its parent was evicted): unreachable, give its key to this one
  }
  blk.cached = true;
  blk.tokens.assign(chunk.begin(), chunk.end());
  blk.parent = parent;
  blk.canon = ref_of(b);
  table_.emplace(blk.hash, b);
}

void BlockAllocator::release(std::span<const BlockId> blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    const BlockId b = *it;
    MESHLM_CHECK(b >= 0 && b < num_blocks(), "block " << b);
    Block& blk = blocks_[b];
    MESHLM_CHECK(blk.ref > 0, "block " << b << " released with ref count " << blk.ref);
    if (--blk.ref > 0) continue;
    if (blk.cached) {
      blk.lru_it = evictable_.insert(evictable_.end(), b);
    } else {
      blk.committed = false;
      free_.push_back(b);
    }
  }
}

void BlockAllocator::check_consistency() const {
  const int64_t n = num_blocks();
  std::vector<int> where(n, 0);  // 1: free list, 2: evictable list
  for (BlockId b : free_) {
    MESHLM_CHECK(b >= 0 && b < n && where[b] == 0, "free list holds block " << b << " twice");
    where[b] = 1;
  }
  for (auto it = evictable_.begin(); it != evictable_.end(); ++it) {
    const BlockId b = *it;
    MESHLM_CHECK(b >= 0 && b < n && where[b] == 0, "evictable list holds block " << b);
    MESHLM_CHECK(blocks_[b].lru_it == it, "block " << b << " has a stale LRU position");
    where[b] = 2;
  }
  int64_t cached = 0;
  for (BlockId b = 0; b < n; ++b) {
    const Block& blk = blocks_[b];
    MESHLM_CHECK(blk.ref >= 0, "block " << b << " ref count " << blk.ref);
    if (blk.ref > 0) MESHLM_CHECK(where[b] == 0, "block " << b << " in use and free");
    if (blk.ref == 0) {
      MESHLM_CHECK(where[b] == (blk.cached ? 2 : 1), "free block " << b << " misfiled");
    }
    if (blk.cached) {
      ++cached;
      auto it = table_.find(blk.hash);
      MESHLM_CHECK(it != table_.end() && it->second == b, "cached block " << b << " not found");
      MESHLM_CHECK(blk.committed && static_cast<int64_t>(blk.tokens.size()) == block_size_,
                   "cached block " << b << " has no contents");
    }
  }
  MESHLM_CHECK(cached == static_cast<int64_t>(table_.size()),
               "hash table has " << table_.size() << " entries for " << cached << " blocks");
}

}  // namespace meshlm
