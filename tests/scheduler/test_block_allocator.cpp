// BlockAllocator: ref counts, the free and evictable lists, prefix matching
// (capped, chained, exact under hash collisions) and LRU eviction.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "scheduler/block_allocator.h"

namespace meshlm {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t first = 0) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Allocates `n` blocks and commits every full one of `tokens` into them.
std::vector<BlockId> fill(BlockAllocator& a, const std::vector<int32_t>& tokens, int64_t n) {
  std::vector<BlockId> table;
  for (int64_t i = 0; i < n; ++i) table.push_back(*a.allocate());
  const int64_t full = static_cast<int64_t>(tokens.size()) / a.block_size();
  for (int64_t i = 0; i < std::min(full, n); ++i) a.commit_full_block(table, tokens, i);
  a.check_consistency();
  return table;
}

TEST(BlockAllocator, HandsOutEveryBlockOnceThenRunsOut) {
  BlockAllocator a(4, 16, false);
  std::vector<BlockId> got;
  for (int i = 0; i < 4; ++i) got.push_back(*a.allocate());
  EXPECT_EQ(got, (std::vector<BlockId>{0, 1, 2, 3}));
  EXPECT_FALSE(a.allocate().has_value());
  EXPECT_EQ(a.num_used(), 4);
  EXPECT_EQ(a.num_free(), 0);
  a.release(got);
  EXPECT_EQ(a.num_used(), 0);
  EXPECT_EQ(a.num_free(), 4);
  EXPECT_EQ(a.num_cached(), 0);
  a.check_consistency();
}

TEST(BlockAllocator, PrefixCachingOffMatchesNothing) {
  BlockAllocator a(8, 4, false);
  auto tokens = iota_tokens(12);
  auto table = fill(a, tokens, 3);
  EXPECT_FALSE(a.is_cached(table[0]));
  EXPECT_TRUE(a.match_prefix(tokens).empty());
  EXPECT_EQ(a.stats().queried_tokens, 0);
  a.release(table);
  EXPECT_EQ(a.num_cached(), 0);
  EXPECT_EQ(a.num_free(), 8);
}

TEST(BlockAllocator, MatchSharesCommittedChainAndCountsRefs) {
  BlockAllocator a(8, 4, true);
  auto tokens = iota_tokens(14);  // 3 full blocks + 2
  auto table = fill(a, tokens, 4);
  auto query = iota_tokens(20);  // same prefix, longer
  auto hit = a.match_prefix(query);
  EXPECT_EQ(hit, (std::vector<BlockId>{table[0], table[1], table[2]}));
  for (BlockId b : hit) EXPECT_EQ(a.ref_count(b), 2);
  EXPECT_EQ(a.ref_count(table[3]), 1);  // partial: never cached
  EXPECT_EQ(a.stats().queried_tokens, 20);
  EXPECT_EQ(a.stats().hit_tokens, 12);
  // A different second block stops the match after the first.
  auto other = iota_tokens(20);
  other[5] = 99;
  EXPECT_EQ(a.match_prefix(other), (std::vector<BlockId>{table[0]}));
  a.release(std::vector<BlockId>{table[0]});
  a.release(hit);
  a.release(table);
  EXPECT_EQ(a.num_used(), 0);
  EXPECT_EQ(a.num_cached(), 3);
  EXPECT_EQ(a.num_free(), 8);
  a.check_consistency();
}

TEST(BlockAllocator, MatchLeavesAtLeastOneTokenToCompute) {
  BlockAllocator a(8, 4, true);
  auto table = fill(a, iota_tokens(8), 2);
  EXPECT_EQ(a.match_prefix(iota_tokens(8)).size(), 1u);  // 2 full blocks: 1 matched
  EXPECT_EQ(a.match_prefix(iota_tokens(9)).size(), 2u);
  EXPECT_EQ(a.match_prefix(iota_tokens(4)).size(), 0u);
  EXPECT_EQ(a.match_prefix(iota_tokens(1)).size(), 0u);
  EXPECT_EQ(a.probe_prefix(iota_tokens(9)).blocks, 2);
  EXPECT_EQ(a.probe_prefix(iota_tokens(9)).evictable, 0);
}

TEST(BlockAllocator, RevivesCachedBlocksAndEvictsLeastRecentlyReleasedTailFirst) {
  BlockAllocator a(4, 2, true);
  auto x = iota_tokens(4, 100), y = iota_tokens(4, 200);
  auto tx = fill(a, x, 2), ty = fill(a, y, 2);
  a.release(tx);  // evictable order: x1, x0
  a.release(ty);  //                  y1, y0
  EXPECT_EQ(a.num_cached(), 4);
  EXPECT_EQ(a.num_free(), 4);
  // A probe of cached blocks says how much free space reviving them costs.
  auto probe = a.probe_prefix(iota_tokens(5, 200));
  EXPECT_EQ(probe.blocks, 2);
  EXPECT_EQ(probe.evictable, 2);

  EXPECT_EQ(*a.allocate(), tx[1]);  // least recently released, a tail
  EXPECT_FALSE(a.is_cached(tx[1]));
  EXPECT_EQ(a.num_cached(), 3);
  // x's head is still cached, its tail is gone.
  auto hx = a.match_prefix(iota_tokens(5, 100));
  EXPECT_EQ(hx, (std::vector<BlockId>{tx[0]}));
  EXPECT_EQ(a.ref_count(tx[0]), 1);
  EXPECT_EQ(a.num_cached(), 2);  // revived: no longer evictable
  EXPECT_EQ(*a.allocate(), ty[1]);
  EXPECT_EQ(*a.allocate(), ty[0]);
  EXPECT_FALSE(a.allocate().has_value());  // tx[0] is referenced again
  a.check_consistency();
}

TEST(BlockAllocator, IdenticalBlockKeepsExistingEntryAndChainsToIt) {
  BlockAllocator a(8, 2, true);
  auto tokens = iota_tokens(4);
  auto t1 = fill(a, tokens, 2);
  auto t2 = fill(a, tokens, 2);  // same contents, computed separately
  EXPECT_TRUE(a.is_cached(t1[0]) && a.is_cached(t1[1]));
  EXPECT_FALSE(a.is_cached(t2[0]) || a.is_cached(t2[1]));
  // t2 grows past t1: its third block chains to t1's cached head, so it is findable.
  auto longer = iota_tokens(7);
  t2.push_back(*a.allocate());
  a.commit_full_block(t2, longer, 2);
  EXPECT_TRUE(a.is_cached(t2[2]));
  EXPECT_EQ(a.match_prefix(longer), (std::vector<BlockId>{t1[0], t1[1], t2[2]}));
  a.check_consistency();
}

// Every block hashes alike: the stored tokens must keep different blocks apart.
uint64_t constant_hash(uint64_t, std::span<const int32_t>) {
  return 7;
}

TEST(BlockAllocator, HashCollisionNeverSharesDifferentTokens) {
  BlockAllocator a(8, 2, true, &constant_hash);
  auto x = iota_tokens(3, 10);
  auto tx = fill(a, x, 1);
  EXPECT_TRUE(a.is_cached(tx[0]));
  EXPECT_TRUE(a.match_prefix(iota_tokens(3, 50)).empty());
  EXPECT_EQ(a.match_prefix(x), tx);  // the real one still matches
  // A colliding block is not cached: the existing entry wins.
  auto ty = fill(a, iota_tokens(3, 50), 1);
  EXPECT_FALSE(a.is_cached(ty[0]));
  a.check_consistency();
}

// Hashes the block's tokens only, ignoring the parent: equal blocks after
// different prefixes collide, and only the exact parent check keeps them apart.
uint64_t parentless_hash(uint64_t, std::span<const int32_t> tokens) {
  return block_hash(0, tokens);
}

TEST(BlockAllocator, HashCollisionNeverSharesBlocksAfterDifferentPrefixes) {
  BlockAllocator a(8, 2, true, &parentless_hash);
  std::vector<int32_t> x = {1, 2, 5, 6}, y = {3, 4, 5, 6};
  auto tx = fill(a, x, 2);
  auto ty = fill(a, y, 2);
  EXPECT_TRUE(a.is_cached(ty[0]));
  EXPECT_FALSE(a.is_cached(ty[1]));  // same key as tx[1], different parent: a collision
  std::vector<int32_t> query = {3, 4, 5, 6, 7};
  EXPECT_EQ(a.match_prefix(query), (std::vector<BlockId>{ty[0]}));  // never tx[1]
  a.check_consistency();
}

TEST(BlockAllocator, EntryOrphanedByItsParentsEvictionGivesWayToARecomputedOne) {
  BlockAllocator a(3, 2, true);
  auto tokens = iota_tokens(5);
  auto t = fill(a, tokens, 2);            // head t0, tail t1, both cached
  a.release(std::vector<BlockId>{t[0]});  // evictable: t0
  a.release(std::vector<BlockId>{t[1]});  //            t0, t1
  const BlockId spare = *a.allocate();    // the never-used block
  EXPECT_EQ(*a.allocate(), t[0]);         // the head goes first: the tail is orphaned
  EXPECT_TRUE(a.is_cached(t[1]));
  EXPECT_TRUE(a.match_prefix(tokens).empty());  // unreachable without its parent
  a.release(std::vector<BlockId>{t[0], spare});
  // Recompute the prefix in fresh blocks: the tail's key is given to the new copy.
  std::vector<BlockId> again = {*a.allocate(), *a.allocate()};
  a.commit_full_block(again, tokens, 0);
  a.commit_full_block(again, tokens, 1);
  EXPECT_TRUE(a.is_cached(again[0]) && a.is_cached(again[1]));
  EXPECT_FALSE(a.is_cached(t[1]));
  EXPECT_EQ(a.num_free(), 1);  // the orphan went to the free list
  EXPECT_EQ(a.num_cached(), 0);
  a.release(again);
  EXPECT_EQ(a.match_prefix(tokens), again);
  a.check_consistency();
}

TEST(BlockAllocator, ReleasingAFreeBlockIsABug) {
  BlockAllocator a(2, 2, true);
  BlockId b = *a.allocate();
  a.release(std::vector<BlockId>{b});
  EXPECT_DEATH(a.release(std::vector<BlockId>{b}), "ref count 0");
}

}  // namespace
}  // namespace meshlm
