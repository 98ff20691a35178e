// mesh-run info: builds the mesh and prints, from rank 0, every rank's
// coordinates, host and device.
#include <mpi.h>

#include <cstdio>
#include <string>
#include <vector>

#include "mesh/device_choice.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "mesh/mpi_session.h"
#include "model/cli/commands.h"
#include "sharding/units.h"

namespace meshlm::cli {

Command add_info_command(CLI::App& app) {
  struct Options {
    std::string mesh = "1x1";
    std::string axes = "dp,mp";
    std::string device;
    std::string device_memory;
  };
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("info", "Print the mesh, each rank's coordinates and device");
  sub->add_option("--mesh", opt->mesh, "Mesh shape, e.g. 2x2 (sizes multiply to the ranks)")
      ->capture_default_str();
  sub->add_option("--axes", opt->axes, "Axis names, comma-separated")->capture_default_str();
  sub->add_option("--devices", opt->device,
                  "Device spec: a name in configs/devices/ or a JSON file (default cpu-rank)");
  sub->add_option("--device-memory", opt->device_memory,
                  "Override the device memory per rank, e.g. 64MiB or 32GB");
  return [opt] {
    const std::vector<std::string> names = split(opt->axes);
    // Every rank parses the same arguments, so every rank reaches the same verdict.
    std::unique_ptr<DeviceMesh> mesh;
    DeviceChoice device;
    all_agree(MPI_COMM_WORLD, [&] {
      mesh = std::make_unique<DeviceMesh>(MPI_COMM_WORLD, AbstractMesh::parse(opt->mesh, names));
      device = choose_device(opt->device, opt->device_memory);
    });
    DeviceMemory memory(device.capacity, mesh->rank(), device.spec.name);

    char host[MPI_MAX_PROCESSOR_NAME] = {0};
    int len = 0;
    MPI_Get_processor_name(host, &len);
    char line[512];
    std::snprintf(line, sizeof line, "  %-28s host %-16s device %s", mesh->describe_rank().c_str(),
                  host, device.describe().c_str());
    std::vector<char> all(static_cast<size_t>(mesh->size()) * sizeof line);
    MPI_Gather(line, sizeof line, MPI_CHAR, all.data(), sizeof line, MPI_CHAR, 0, mesh->comm());
    if (mesh->rank() == 0) {
      std::printf("%s: %d devices, rank = row-major over (%s), last axis fastest\n",
                  mesh->abstract().to_string().c_str(), mesh->size(), opt->axes.c_str());
      for (int r = 0; r < mesh->size(); ++r) std::printf("%s\n", &all[r * sizeof line]);
      std::printf("memory per device: %s (%s B)\n",
                  format_bytes(static_cast<double>(memory.capacity())).c_str(),
                  format_count(memory.capacity()).c_str());
    }
    return 0;
  };
}

}  // namespace meshlm::cli
