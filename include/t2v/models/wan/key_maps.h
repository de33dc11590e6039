// Rename tables from the other Wan checkpoint layouts to the canonical diffusers key names
// (spec §1.5, §2.6, §3.3). Data, applied by TensorStore::renamed().
#pragma once

#include "t2v/io/key_rename.h"
#include "t2v/io/tensor_store.h"
#include "t2v/models/wan/config.h"

namespace t2v::wan {

// Official WanModel / ComfyUI DiT names -> diffusers WanTransformer3DModel names.
const io::RenameTable& transformer_official_to_diffusers();
// Wan's own T5 names (models_t5_umt5-xxl-enc-bf16) -> HF UMT5EncoderModel names.
const io::RenameTable& umt5_wan_to_hf();
// Official Wan2.1 VAE / ComfyUI names -> diffusers AutoencoderKLWan names. The up-block grouping
// follows the config (num_res_blocks + 1 resnets per up block, one upsampler between blocks).
io::RenameTable vae_official_to_diffusers(const WanVAEConfig& config);
// open-clip visual tower names (ComfyUI clip_vision_h) -> transformers CLIPVisionModel names; the
// fused attn.in_proj_weight/bias are first split into q/k/v row blocks (clip_open_clip_qkv_split).
const io::RenameTable& clip_open_clip_to_hf();
const io::SplitTable& clip_open_clip_qkv_split();

}  // namespace t2v::wan
