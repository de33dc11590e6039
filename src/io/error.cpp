#include "t2v/error.h"

namespace t2v {

int exit_code_for(const std::exception& e) noexcept {
  if (dynamic_cast<const Interrupted*>(&e)) return 130;
  if (dynamic_cast<const UsageError*>(&e) || dynamic_cast<const ConfigError*>(&e) ||
      dynamic_cast<const WeightsError*>(&e) || dynamic_cast<const InputError*>(&e)) {
    return 2;
  }
  return 1;
}

}  // namespace t2v
