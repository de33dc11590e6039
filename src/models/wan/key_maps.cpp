#include "t2v/models/wan/key_maps.h"

namespace t2v::wan {

const io::RenameTable& transformer_official_to_diffusers() {
  // Source: DF scripts/convert_wan_to_diffusers.py TRANSFORMER_KEYS_RENAME_DICT (spec §2.6).
  static const io::RenameTable table = {
      {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
      {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
      {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
      {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
      {"time_projection.1.", "condition_embedder.time_proj."},
      {"blocks.*.modulation", "blocks.*.scale_shift_table"},
      {"blocks.*.self_attn.q.", "blocks.*.attn1.to_q."},
      {"blocks.*.self_attn.k.", "blocks.*.attn1.to_k."},
      {"blocks.*.self_attn.v.", "blocks.*.attn1.to_v."},
      {"blocks.*.self_attn.o.", "blocks.*.attn1.to_out.0."},
      {"blocks.*.self_attn.norm_q.", "blocks.*.attn1.norm_q."},
      {"blocks.*.self_attn.norm_k.", "blocks.*.attn1.norm_k."},
      {"blocks.*.cross_attn.q.", "blocks.*.attn2.to_q."},
      {"blocks.*.cross_attn.k.", "blocks.*.attn2.to_k."},
      {"blocks.*.cross_attn.v.", "blocks.*.attn2.to_v."},
      {"blocks.*.cross_attn.o.", "blocks.*.attn2.to_out.0."},
      {"blocks.*.cross_attn.norm_q.", "blocks.*.attn2.norm_q."},
      {"blocks.*.cross_attn.norm_k.", "blocks.*.attn2.norm_k."},
      {"blocks.*.cross_attn.k_img.", "blocks.*.attn2.add_k_proj."},
      {"blocks.*.cross_attn.v_img.", "blocks.*.attn2.add_v_proj."},
      {"blocks.*.cross_attn.norm_k_img.", "blocks.*.attn2.norm_added_k."},
      // Official norm3 (affine cross-attention pre-norm) is diffusers norm2; norm1/norm2 have no weights.
      {"blocks.*.norm3.", "blocks.*.norm2."},
      {"blocks.*.ffn.0.", "blocks.*.ffn.net.0.proj."},
      {"blocks.*.ffn.2.", "blocks.*.ffn.net.2."},
      {"head.modulation", "scale_shift_table"},
      {"head.head.", "proj_out."},
      {"img_emb.proj.0.", "condition_embedder.image_embedder.norm1."},
      {"img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."},
      {"img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."},
      {"img_emb.proj.4.", "condition_embedder.image_embedder.norm2."},
      {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"},
  };
  return table;
}

const io::RenameTable& clip_open_clip_to_hf() {
  // Source: open_clip VisionTransformer names vs transformers CLIPVisionModel (the table of W21
  // clip.py module names, open-clip and transformers names in the fixtures' README).
  static const io::RenameTable table = {
      {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
      {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
      {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
      {"visual.ln_pre.", "vision_model.pre_layrnorm."},
      {"visual.transformer.resblocks.*.ln_1.", "vision_model.encoder.layers.*.layer_norm1."},
      {"visual.transformer.resblocks.*.attn.out_proj.", "vision_model.encoder.layers.*.self_attn.out_proj."},
      {"visual.transformer.resblocks.*.ln_2.", "vision_model.encoder.layers.*.layer_norm2."},
      {"visual.transformer.resblocks.*.mlp.c_fc.", "vision_model.encoder.layers.*.mlp.fc1."},
      {"visual.transformer.resblocks.*.mlp.c_proj.", "vision_model.encoder.layers.*.mlp.fc2."},
      {"visual.ln_post.", "vision_model.post_layernorm."},
      {"visual.proj", "visual_projection.weight"},  // [w, embed], transposed; unused (no head)
  };
  return table;
}

const io::SplitTable& clip_open_clip_qkv_split() {
  static const io::SplitTable table = {
      {"visual.transformer.resblocks.*.attn.in_proj_weight",
       {"vision_model.encoder.layers.*.self_attn.q_proj.weight", "vision_model.encoder.layers.*.self_attn.k_proj.weight",
        "vision_model.encoder.layers.*.self_attn.v_proj.weight"}},
      {"visual.transformer.resblocks.*.attn.in_proj_bias",
       {"vision_model.encoder.layers.*.self_attn.q_proj.bias", "vision_model.encoder.layers.*.self_attn.k_proj.bias",
        "vision_model.encoder.layers.*.self_attn.v_proj.bias"}},
  };
  return table;
}

const io::RenameTable& umt5_wan_to_hf() {
  // Source: W21 wan/modules/t5.py module names vs HF UMT5EncoderModel (spec §1.5 (c)).
  static const io::RenameTable table = {
      {"token_embedding.", "shared."},
      {"blocks.*.norm1.", "encoder.block.*.layer.0.layer_norm."},
      {"blocks.*.attn.", "encoder.block.*.layer.0.SelfAttention."},
      {"blocks.*.pos_embedding.embedding.", "encoder.block.*.layer.0.SelfAttention.relative_attention_bias."},
      {"blocks.*.norm2.", "encoder.block.*.layer.1.layer_norm."},
      {"blocks.*.ffn.gate.0.", "encoder.block.*.layer.1.DenseReluDense.wi_0."},
      {"blocks.*.ffn.fc1.", "encoder.block.*.layer.1.DenseReluDense.wi_1."},
      {"blocks.*.ffn.fc2.", "encoder.block.*.layer.1.DenseReluDense.wo."},
      {"norm.", "encoder.final_layer_norm."},
  };
  return table;
}

namespace {
// Official ResidualBlock Sequential indices -> diffusers WanResidualBlock names.
void add_resnet(io::RenameTable& t, const std::string& from, const std::string& to) {
  t.push_back({from + "residual.0.", to + "norm1."});
  t.push_back({from + "residual.2.", to + "conv1."});
  t.push_back({from + "residual.3.", to + "norm2."});
  t.push_back({from + "residual.6.", to + "conv2."});
  t.push_back({from + "shortcut.", to + "conv_shortcut."});
}
}  // namespace

io::RenameTable vae_official_to_diffusers(const WanVAEConfig& config) {
  // Source: DF scripts/convert_wan_to_diffusers.py convert_vae (spec §3.3).
  io::RenameTable t;
  t.push_back({"encoder.conv1.", "encoder.conv_in."});
  if (config.is_residual) {
    // Wan2.2: encoder.downsamples.i.downsamples.{0..n-1} (ResidualBlocks), .n (Resample);
    // decoder.upsamples.i.upsamples.{0..n} (ResidualBlocks), .n+1 (Resample).
    const int64_t n = config.num_res_blocks;
    for (int64_t r = 0; r < n; ++r) {
      add_resnet(t, "encoder.downsamples.*.downsamples." + std::to_string(r) + ".",
                 "encoder.down_blocks.*.resnets." + std::to_string(r) + ".");
    }
    t.push_back({"encoder.downsamples.*.downsamples." + std::to_string(n) + ".", "encoder.down_blocks.*.downsampler."});
    for (int64_t r = 0; r <= n; ++r) {
      add_resnet(t, "decoder.upsamples.*.upsamples." + std::to_string(r) + ".",
                 "decoder.up_blocks.*.resnets." + std::to_string(r) + ".");
    }
    t.push_back({"decoder.upsamples.*.upsamples." + std::to_string(n + 1) + ".", "decoder.up_blocks.*.upsampler."});
  } else {
    add_resnet(t, "encoder.downsamples.*.", "encoder.down_blocks.*.");
    t.push_back({"encoder.downsamples.*.", "encoder.down_blocks.*."});  // resample.1, time_conv
  }
  for (const std::string side : {"encoder", "decoder"}) {
    add_resnet(t, side + ".middle.0.", side + ".mid_block.resnets.0.");
    t.push_back({side + ".middle.1.", side + ".mid_block.attentions.0."});
    add_resnet(t, side + ".middle.2.", side + ".mid_block.resnets.1.");
    t.push_back({side + ".head.0.", side + ".norm_out."});
    t.push_back({side + ".head.2.", side + ".conv_out."});
  }
  t.push_back({"conv1.", "quant_conv."});
  t.push_back({"conv2.", "post_quant_conv."});
  t.push_back({"decoder.conv1.", "decoder.conv_in."});
  if (config.is_residual) return t;
  // Decoder: flat upsamples list = per level (num_res_blocks + 1) resnets, then a Resample for
  // every level but the last.
  const int64_t levels = static_cast<int64_t>(config.dim_mult.size());
  const int64_t per_level = config.num_res_blocks + 1;
  int64_t flat = 0;
  for (int64_t level = 0; level < levels; ++level) {
    const std::string block = "decoder.up_blocks." + std::to_string(level) + ".";
    for (int64_t r = 0; r < per_level; ++r, ++flat) {
      add_resnet(t, "decoder.upsamples." + std::to_string(flat) + ".", block + "resnets." + std::to_string(r) + ".");
    }
    if (level + 1 < levels) {
      t.push_back({"decoder.upsamples." + std::to_string(flat) + ".", block + "upsamplers.0."});
      ++flat;
    }
  }
  return t;
}

}  // namespace t2v::wan
