// The paged KV cache's block pool: num_blocks blocks of block_size positions,
// reference-counted, with an optional prefix cache (vLLM's automatic prefix
// caching). Pure bookkeeping: it never touches KV memory, it hands out ids.
//
// Prefix cache. A FULL block that a sequence committed is identified by its
// chain hash, hash(parent block's chain hash, its block_size token ids); the
// first block's parent is a fixed root. A hit is exact, never probabilistic:
// a cached block keeps its token ids and the identity of the cached block
// before it, and match_prefix compares both, so two prefixes whose hashes
// collide can never share KV. Blocks whose ref count drops to 0 and that are
// cached stay allocatable but findable (evictable, least recently released
// first) until their memory is needed; blocks without a hash go straight to
// the free list. A cached block whose parent was evicted can no longer be
// found; it is dropped when its key is needed again, or evicted in turn.
// docs/DESIGN.md (scheduler section).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace meshlm {

using BlockId = int32_t;

struct PrefixCacheStats {
  int64_t queried_tokens = 0, hit_tokens = 0;  // hit rate = hit / queried
};

// hash(parent chain hash, one block's token ids). Replaceable for tests only
// (a weak hash to force collisions); the default is block_hash below.
using BlockHashFn = uint64_t (*)(uint64_t parent, std::span<const int32_t> tokens);

// The default: splitmix64 mixing over the ids, seeded by the parent's hash.
uint64_t block_hash(uint64_t parent, std::span<const int32_t> tokens);

class BlockAllocator {
 public:
  // num_blocks >= 1 and block_size >= 1 (asserted: the scheduler validates its config).
  BlockAllocator(int64_t num_blocks, int64_t block_size, bool prefix_caching,
                 BlockHashFn hash = &block_hash);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  int64_t num_free() const;    // allocatable now: never-used/free + evictable cached
  int64_t num_used() const;    // ref count > 0
  int64_t num_cached() const;  // ref 0 but holding a cached hash (subset of num_free)

  // Longest prefix of FULL blocks of `tokens` found in the cache, capped so that
  // at least one token is left to compute (at most (tokens.size()-1)/block_size
  // blocks). Each returned block's ref count is incremented (revived from the
  // evictable list if it was there). Updates stats (queried += tokens.size(),
  // hit += blocks * block_size). Empty, and no stats, when prefix caching is off.
  std::vector<BlockId> match_prefix(std::span<const int32_t> tokens);

  // What match_prefix(tokens) would return now, without side effects: the
  // number of blocks, and how many of them are evictable (ref 0), i.e. how
  // much num_free() would drop by reviving them.
  struct PrefixProbe {
    int64_t blocks = 0, evictable = 0;
  };
  PrefixProbe probe_prefix(std::span<const int32_t> tokens) const;

  // A fresh block with ref count 1 (no hash): a free one, else evict the least
  // recently released cached one (dropping its hash). nullopt when none is left.
  std::optional<BlockId> allocate();

  // Block `index` of a sequence (table[index]) now holds the sequence's tokens
  // [index*bs, (index+1)*bs) — `tokens` is the sequence's whole token list
  // (size >= (index+1)*bs) and blocks 0..index-1 of `table` were committed
  // already. Records its hash so later match_prefix calls can find it. If an
  // identical block is already cached the existing entry wins (this block stays
  // unhashed, and its successors chain to the existing one). Committing a block
  // twice is a no-op. No-op without prefix caching.
  void commit_full_block(std::span<const BlockId> table, std::span<const int32_t> tokens,
                         int64_t index);

  // Decrements each block's ref count, last block first (so a sequence's tail is
  // evicted before its head). A block's count must be > 0 (asserted).
  void release(std::span<const BlockId> blocks);

  const PrefixCacheStats& stats() const { return stats_; }

  // For tests and debugging.
  int32_t ref_count(BlockId b) const;
  bool is_cached(BlockId b) const;  // findable by match_prefix (ref count any)
  // Asserts (MESHLM_CHECK) that the free list, evictable list, ref counts and
  // hash table agree with each other. O(num_blocks).
  void check_consistency() const;

 private:
  // A cached block's identity: block id and the generation it had when it was
  // cached (bumped whenever a block stops being cached), so a stale reference
  // to an evicted block never matches. Root (no parent): {-1, 0}; nothing: {-2, 0}.
  struct Ref {
    BlockId id = -1;
    uint64_t gen = 0;
    bool operator==(const Ref&) const = default;
  };
  struct Block {
    int32_t ref = 0;
    uint64_t gen = 0;
    bool committed = false;       // full, its chain hash known (valid while ref > 0 or cached)
    bool cached = false;          // the entry for `hash` in table_
    uint64_t hash = 0;            // chain hash of its contents
    Ref canon;                    // the cached block holding the same contents; id -2: none
    Ref parent;                   // cached only: the cached block before it
    std::vector<int32_t> tokens;  // cached only: its block_size ids
    std::list<BlockId>::iterator lru_it;  // cached with ref 0: place in evictable_
  };

  Ref ref_of(BlockId b) const { return {b, blocks_[b].gen}; }
  bool is_current(const Ref& r) const;  // r names a block that is cached under that generation
  // The cached blocks that match a prefix of `tokens` (match_prefix's answer).
  std::vector<BlockId> walk_prefix(std::span<const int32_t> tokens) const;
  // The cached block matching (parent, tokens) whose key is `hash`, or -1.
  BlockId lookup(uint64_t hash, const Ref& parent, std::span<const int32_t> tokens) const;
  void uncache(BlockId b);  // drops b's hash (b keeps its ref count)

  int64_t block_size_;
  bool prefix_caching_;
  BlockHashFn hash_;
  std::vector<Block> blocks_;
  std::vector<BlockId> free_;                    // ref 0, not cached; back is handed out first
  std::list<BlockId> evictable_;                 // ref 0, cached; front = least recently released
  std::unordered_map<uint64_t, BlockId> table_;  // chain hash -> cached block
  PrefixCacheStats stats_;
};

}  // namespace meshlm
