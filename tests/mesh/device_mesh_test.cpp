// DeviceMesh under mpirun with 1-4 ranks: row-major rank order with mp
// fastest (docs/DESIGN.md §3), axis groups holding the right ranks, and mesh-size
// errors raised on every rank without hanging.
#include "mesh/device_mesh.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <string>
#include <vector>

#include "common/mpi_world.h"
#include "mesh/mpi_session.h"

namespace meshlm {
namespace {

using test::world_rank;
using test::world_size;

// The world ranks of a group, in group-rank order.
std::vector<int> members(const AxisGroup& g) {
  std::vector<int> out(static_cast<size_t>(g.size));
  const int me = world_rank();
  MPI_Allgather(&me, 1, MPI_INT, out.data(), 1, MPI_INT, g.comm);
  return out;
}

// Every dp x mp factorisation of the world size.
std::vector<std::pair<int, int>> factorisations(int n) {
  std::vector<std::pair<int, int>> out;
  for (int dp = 1; dp <= n; ++dp)
    if (n % dp == 0) out.emplace_back(dp, n / dp);
  return out;
}

TEST(DeviceMesh, CoordinatesFollowRowMajorOrderWithMpFastest) {
  const int n = world_size(), r = world_rank();
  for (auto [dp, mp] : factorisations(n)) {
    SCOPED_TRACE(std::to_string(dp) + "x" + std::to_string(mp));
    DeviceMesh mesh(MPI_COMM_WORLD,
                    AbstractMesh::parse(std::to_string(dp) + "x" + std::to_string(mp)));
    EXPECT_EQ(mesh.rank(), r);
    EXPECT_EQ(mesh.size(), n);
    EXPECT_EQ(mesh.coords(), (std::vector<int>{r / mp, r % mp}));
    EXPECT_EQ(mesh.coord("dp"), r / mp);
    EXPECT_EQ(mesh.coord("mp"), r % mp);
    EXPECT_EQ(mesh.describe_rank(), "rank " + std::to_string(r) + " (dp=" + std::to_string(r / mp) +
                                        ", mp=" + std::to_string(r % mp) + ")");

    // mp groups: consecutive ranks; dp groups: ranks mp apart.
    const AxisGroup& gmp = mesh.axis("mp");
    const AxisGroup& gdp = mesh.axis("dp");
    EXPECT_EQ(gmp.size, mp);
    EXPECT_EQ(gdp.size, dp);
    EXPECT_EQ(gmp.rank, r % mp);
    EXPECT_EQ(gdp.rank, r / mp);
    std::vector<int> want_mp, want_dp;
    for (int j = 0; j < mp; ++j) want_mp.push_back((r / mp) * mp + j);
    for (int i = 0; i < dp; ++i) want_dp.push_back(i * mp + r % mp);
    EXPECT_EQ(members(gmp), want_mp);
    EXPECT_EQ(members(gdp), want_dp);

    // The whole mesh, by any of its names.
    EXPECT_EQ(mesh.all().size, n);
    EXPECT_EQ(mesh.all().rank, r);
    EXPECT_EQ(mesh.all().name, "dp,mp");
    EXPECT_EQ(&mesh.axis("all"), &mesh.all());
    EXPECT_EQ(&mesh.axis(""), &mesh.all());
    EXPECT_EQ(&mesh.axis("dp,mp"), &mesh.all());
    std::vector<int> everyone;
    for (int i = 0; i < n; ++i) everyone.push_back(i);
    EXPECT_EQ(members(mesh.all()), everyone);
  }
}

TEST(DeviceMesh, CustomAxisNamesAndUnknownAxis) {
  const int n = world_size(), r = world_rank();
  DeviceMesh mesh(MPI_COMM_WORLD, AbstractMesh::parse("1x" + std::to_string(n), {"x", "y"}));
  EXPECT_EQ(mesh.axis("y").size, n);
  EXPECT_EQ(mesh.axis("x").size, 1);
  EXPECT_EQ(mesh.coord("y"), r);
  try {
    mesh.axis("tp");
    ADD_FAILURE() << "expected an error for an unknown axis";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'tp'"), std::string::npos) << m;
    EXPECT_NE(m.find("'x'"), std::string::npos) << m;  // names the known axes
  }
}

TEST(DeviceMesh, WrongSizeThrowsOnEveryRankNamingBothNumbers) {
  const int n = world_size();
  // One rank too many, and (with more than one rank) one too few.
  std::vector<std::string> shapes = {"1x" + std::to_string(n + 1), std::to_string(n + 1) + "x1"};
  if (n > 1) shapes.push_back("1x" + std::to_string(n - 1));
  for (const auto& shape : shapes) {
    SCOPED_TRACE(shape);
    const int want = AbstractMesh::parse(shape).size();
    try {
      DeviceMesh mesh(MPI_COMM_WORLD, AbstractMesh::parse(shape));
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("needs " + std::to_string(want) + " ranks"), std::string::npos) << m;
      EXPECT_NE(m.find("job has " + std::to_string(n)), std::string::npos) << m;
    }
    // Every rank threw and is still in step: a collective completes.
    int one = 1, sum = 0;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    EXPECT_EQ(sum, n);
  }
}

TEST(DeviceMesh, WrongSizeThroughAllAgreeFailsEveryRankTogether) {
  const int n = world_size();
  try {
    all_agree(MPI_COMM_WORLD, [&] {
      DeviceMesh mesh(MPI_COMM_WORLD, AbstractMesh::parse("2x" + std::to_string(n)));
    });
    ADD_FAILURE() << "expected AgreedError";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.failing_count(), n);  // every rank saw it
    EXPECT_EQ(e.failing_rank(), 0);
    EXPECT_NE(std::string(e.what()).find("needs " + std::to_string(2 * n) + " ranks"),
              std::string::npos)
        << e.what();
  }
}

TEST(DeviceMesh, ErrorOnOneRankOnlyIsAgreedByAll) {
  const int n = world_size(), r = world_rank();
  try {
    all_agree(MPI_COMM_WORLD, [&] {
      if (r == n - 1) throw Error("only the last rank fails");
    });
    ADD_FAILURE() << "expected AgreedError";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.failing_rank(), n - 1);
    EXPECT_EQ(e.failing_count(), 1);
    EXPECT_STREQ(e.what(), "only the last rank fails");
  }
}

}  // namespace
}  // namespace meshlm
