// What t2v can run, decided when a model is opened and before any weights load. Today: Wan2.1-style
// text-to-video (a DiT whose input is the VAE's latent, a 16-channel Wan2.1 VAE). Everything else -
// image-to-video DiTs (36 input channels, CLIP image context), first-last-frame, VACE, Wan2.2's
// TI2V-5B (48-channel VAE) and two-expert folders - is refused with one line naming the file, what it
// is, and that t2v does not run it. As more models are supported this becomes where a model is
// routed to the pipeline that runs it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "t2v/models/wan/model_source.h"

namespace t2v::wan {

// Why the model cannot be run ("FILE: what it is; t2v does not run it ..."), or nothing.
std::optional<std::string> unsupported_reason(const WanModelSource& src);
// Throws ConfigError with unsupported_reason() when there is one.
void check_supported(const WanModelSource& src);
// The generation modes a supported model runs. A text-to-video DiT has no conditioning inputs, so
// images and clips act through latent frames imposed at every step: every mode is available.
std::vector<std::string> supported_modes(const WanModelSource& src);

}  // namespace t2v::wan
