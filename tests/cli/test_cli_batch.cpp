// End-to-end robustness of `t2v batch`: kill -9 mid-batch and resume, a LibTorch error on one line,
// output-name collisions refused before any work, the base seed kept across a resume.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "support/golden.h"
#include "support/run_binary.h"
#include "t2v/io/video_writer.h"

using t2v::test::run_t2v;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class CliBatch : public t2v::test::TempDirTest {
 protected:
  std::vector<std::string> batch(const fs::path& prompts, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> a = {"batch", prompts.string(), "--output-dir", out_dir().string(), "--size", "96x64",
                                  "--frames", "5", "--threads", "2", "-m", t2v::test::tiny_model_dir().string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  fs::path out_dir() const { return dir_ / "out"; }
  std::vector<json> manifest() const {
    std::vector<json> rows;
    std::ifstream m(out_dir() / "batch-manifest.jsonl");
    for (std::string line; std::getline(m, line);) rows.push_back(json::parse(line));
    return rows;
  }
  size_t files_with(const std::string& part) const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(out_dir())) n += e.path().filename().string().find(part) != std::string::npos;
    return n;
  }
};

TEST_F(CliBatch, Kill9LosesOnlyTheLineInFlightAndResumeFinishes) {
  const fs::path prompts = dir_ / "prompts.txt";
  std::ofstream(prompts) << "a red fox\na blue whale\ngreen hills\na yellow kite\n";
  // No --seed: the base seed is random, and the resumed run must reuse it from the manifest.
  auto killed = t2v::test::run_t2v_interrupt(batch(prompts, {"--steps", "30"}), "[2/4]", 300, SIGKILL);
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.err;
  const auto first = manifest();
  ASSERT_EQ(first.size(), 1u) << killed.err;  // line 1 done, line 2 was in flight
  EXPECT_EQ(first[0]["status"], "done");
  const uint64_t base_seed = first[0]["base_seed"];
  const fs::path line1 = first[0]["output"].get<std::string>();
  ASSERT_TRUE(fs::exists(line1));
  const auto line1_time = fs::last_write_time(line1);

  auto resumed = run_t2v(batch(prompts, {"--steps", "30"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("base seed " + std::to_string(base_seed)), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("3 done, 1 skipped, 0 failed"), std::string::npos) << resumed.err;
  EXPECT_EQ(fs::last_write_time(line1), line1_time);  // same name (same base seed): not redone
  EXPECT_EQ(files_with(".tmp-"), 0u);                 // the killed run's partial file was removed
  EXPECT_EQ(files_with(".mp4"), 4u);

  // The manifest: every line's last record is done or skipped, with an output that exists and
  // decodes, the seed base + index, and one base seed throughout.
  std::map<int, json> last;
  for (const auto& row : manifest()) {
    EXPECT_EQ(row["base_seed"], base_seed);
    last[row["line"].get<int>()] = row;
  }
  ASSERT_EQ(last.size(), 4u);
  for (const auto& [line, row] : last) {
    EXPECT_TRUE(row["status"] == "done" || row["status"] == "skipped") << row.dump();
    EXPECT_EQ(row["seed"].get<uint64_t>(), base_seed + row["index"].get<uint64_t>()) << row.dump();
    const fs::path out = row["output"].get<std::string>();
    ASSERT_TRUE(fs::exists(out)) << row.dump();
    EXPECT_EQ(t2v::io::read_video(out).frames.size(0), 5) << out;
  }
}

TEST_F(CliBatch, LibTorchErrorFailsOnlyItsLine) {
  const fs::path prompts = dir_ / "prompts.jsonl";
  // The largest grid the DiT's RoPE allows: its noise alone is 16 x 1024 x 2048 x 2048 fp32 = 256 GiB,
  // which LibTorch's allocator refuses (c10::Error), after the line has passed every settings check.
  std::ofstream(prompts) << R"({"prompt": "a red fox"})" << "\n"
                         << R"({"prompt": "too big", "size": "16384x16384", "frames": 4093})" << "\n"
                         << R"({"prompt": "green hills"})" << "\n";
  auto r = run_t2v(batch(prompts, {"--steps", "2", "--seed", "5"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("2 done, 0 skipped, 1 failed"), std::string::npos) << r.err;
  std::map<int, json> by_line;
  for (const auto& row : manifest()) by_line[row["line"].get<int>()] = row;
  ASSERT_EQ(by_line.size(), 3u);
  EXPECT_EQ(by_line[1]["status"], "done");
  EXPECT_EQ(by_line[2]["status"], "failed");
  EXPECT_NE(by_line[2]["error"].get<std::string>().find("LibTorch/runtime error"), std::string::npos) << by_line[2];
  EXPECT_EQ(by_line[2]["error"].get<std::string>().find('\n'), std::string::npos);  // no backtrace
  EXPECT_EQ(by_line[3]["status"], "done");
  EXPECT_EQ(files_with(".mp4"), 2u);
  EXPECT_EQ(files_with(".tmp-"), 0u);
}

TEST_F(CliBatch, NameCollisionsAreRefusedBeforeAnyWork) {
  const fs::path prompts = dir_ / "prompts.txt";
  std::ofstream(prompts) << "a red fox\na blue whale\n";
  auto r = run_t2v(batch(prompts, {"--steps", "2", "--name-template", "clip-{seed}.mp4", "--seed", "3"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;  // distinct seeds: distinct names
  fs::remove_all(out_dir());
  r = run_t2v(batch(prompts, {"--steps", "2", "--name-template", "clip.mp4"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("lines 1 and 2 both write"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--name-template clip.mp4"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("denois"), std::string::npos) << r.err;
  EXPECT_EQ(files_with(".mp4"), 0u);

  const fs::path jsonl = dir_ / "prompts.jsonl";
  std::ofstream(jsonl) << R"({"prompt": "one", "output": "same.mp4"})" << "\n"
                       << R"({"prompt": "two"})" << "\n"
                       << R"({"prompt": "three", "output": "same.mp4"})" << "\n";
  r = run_t2v(batch(jsonl, {"--steps", "2"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("lines 1 and 3 both write"), std::string::npos) << r.err;
  EXPECT_EQ(files_with(".mp4"), 0u);
}

}  // namespace
