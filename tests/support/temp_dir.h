// A test fixture with its own empty directory: <tmp>/t2v_<suite>_<pid>_<test>, created before each
// test and removed after it (T2V_TEST_KEEP=1 keeps it, to look at what a test wrote).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace t2v::test {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "t2v_" + std::string(info->test_suite_name()) + "_" + std::to_string(::getpid()) + "_" + info->name();
    for (auto& c : name)
      if (c == '/') c = '_';  // parameterised tests: "Prefix/Suite", "Test/param"
    dir_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!std::getenv("T2V_TEST_KEEP")) std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
};

}  // namespace t2v::test
