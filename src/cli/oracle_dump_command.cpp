// `gatedlm oracle-dump` (developer command): everything the PyTorch oracle in tests/reference/
// recomputes independently — initial weights, one forward/backward (logits, loss, every
// gradient), S optimizer steps (losses, LRs, grad norms, final weights) and the instrumentation.
// The layout is documented in tests/reference/README.md.
#include <string>
#include <vector>

#include "commands.h"
#include "gatedlm/backend/select.h"
#include "gatedlm/checkpoint/h5_file.h"
#include "gatedlm/config/loader.h"
#include "gatedlm/model/rope.h"
#include "gatedlm/model/transformer.h"
#include "gatedlm/optim/adamw.h"
#include "gatedlm/optim/schedule.h"

namespace gatedlm::cli {
namespace {

void write_params(H5File& file, const std::string& group, ParameterSet& params, bool grads) {
  std::vector<float> host(static_cast<size_t>(params.numel()));
  params.backend().to_host(host.data(), (grads ? params.grads() : params.params()).data(),
                           params.numel());
  for (const ParamInfo& p : params.infos())
    file.write_floats(group + "/" + p.name, p.shape, host.data() + p.offset);
}

// Gives norm weights and static gate logits random values too, so their gradients and the
// gates' behaviour are exercised away from the all-ones / all-zeros start.
void randomize_constant_params(ParameterSet& params, uint64_t seed) {
  Rng rng(seed ^ 0xA5A5A5A5ULL);
  std::vector<float> host(static_cast<size_t>(params.numel()));
  params.backend().to_host(host.data(), params.params().data(), params.numel());
  for (const ParamInfo& p : params.infos()) {
    if (p.spec.init == ParamInit::normal) continue;
    const float base = p.spec.init == ParamInit::ones ? 1.0f : 0.0f;
    for (int64_t i = 0; i < p.numel(); ++i)
      host[p.offset + i] = base + static_cast<float>(rng.normal() * 0.5);
  }
  params.backend().from_host(params.params().data(), host.data(), params.numel());
}

// The router losses and routing counts of the last forward, one row per MoE layer.
void write_routing(H5File& file, Transformer& model, const RouterLosses& router) {
  ModelAnalysis routing;
  routing.reset(model.config().num_hidden_layers, false);
  model.record_routing(routing);
  const int64_t L = router.layers(), E = model.config().moe->num_experts;
  std::vector<float> aux, z, tokens, dropped;
  for (const LayerAnalysis& layer : routing.layers) {
    if (!layer.is_moe()) continue;
    aux.push_back(static_cast<float>(layer.aux_loss()));
    z.push_back(static_cast<float>(layer.z_loss()));
    tokens.insert(tokens.end(), layer.expert_tokens.begin(), layer.expert_tokens.end());
    dropped.push_back(static_cast<float>(layer.moe_dropped));
  }
  const float objective = static_cast<float>(model.router_loss());
  file.write_floats("forward/router_loss", {}, &objective);
  file.write_floats("forward/aux_loss", {L}, aux.data());
  file.write_floats("forward/z_loss", {L}, z.data());
  file.write_floats("forward/tokens_per_expert", {L, E}, tokens.data());
  file.write_floats("forward/dropped", {L}, dropped.data());
}

}  // namespace

Command add_oracle_dump_command(CLI::App& app) {
  struct Args {
    std::string config, out;
    std::vector<std::string> overrides;
    int64_t steps = 10;
    bool randomize_all = false;
    int threads = 0;
    std::string device = "cpu";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "oracle-dump", "Developer: dump weights, activations and gradients for the PyTorch oracle");
  cmd->add_option("config", a->config, "config YAML")->required();
  cmd->add_option("--set", a->overrides, "override a key");
  cmd->add_option("--out", a->out, "output HDF5 file")->required();
  cmd->add_option("--steps", a->steps, "optimizer steps to record (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--randomize-all", a->randomize_all,
                "also randomize norm weights and static gate logits");
  add_threads_option(*cmd, a->threads);
  add_device_option(*cmd, a->device);
  return {cmd, [a] {
            const Config config = load_config(a->config, a->overrides);
            apply_threads(a->threads);
            const TrainConfig& tc = config.train;
            const int64_t B = tc.micro_batch_size, T = tc.seq_len, A = tc.grad_accum_steps;
            const int64_t V = config.model.vocab_size, L = config.model.num_hidden_layers;
            auto backend = make_backend(a->device);
            Transformer model(config.model, *backend);
            model.init_weights(tc.seed);
            if (a->randomize_all) randomize_constant_params(model.params(), tc.seed);
            Rng rng = Rng::stream(tc.seed, StreamId::data);
            auto random_tokens = [&](int64_t n) {
              std::vector<int32_t> v(static_cast<size_t>(n));
              for (int32_t& t : v) t = static_cast<int32_t>(rng.uniform_int(V));
              return v;
            };

            H5File file(a->out, H5File::Mode::truncate);
            file.set_attribute("/", "config_yaml", config_to_yaml(config));
            write_params(file, "params", model.params(), false);

            const auto inputs = random_tokens(B * T), targets = random_tokens(B * T);
            file.write_ints("batch/inputs", {B, T}, inputs.data());
            file.write_ints("batch/targets", {B, T}, targets.data());
            ModelAnalysis analysis;
            analysis.reset(L, config.model.attention_gate.position != GatePosition::none);
            const float loss =
                static_cast<float>(model.forward(inputs.data(), targets.data(), B, T, &analysis));
            std::vector<float> logits(static_cast<size_t>(B * T * V));
            backend->to_host(logits.data(), model.logits().data(), B * T * V);
            file.write_floats("forward/logits", {B, T, V}, logits.data());
            file.write_floats("forward/loss", {}, &loss);
            std::vector<float> fta(L), max_act(L * kNumPoints), gate(L), sparsity(L);
            for (int64_t l = 0; l < L; ++l) {
              fta[l] = static_cast<float>(analysis.first_token_attn(l));
              for (int p = 0; p < kNumPoints; ++p)
                max_act[l * kNumPoints + p] = analysis.layers[l].max_act[p];
              gate[l] = static_cast<float>(analysis.gate_score(l));
              sparsity[l] = static_cast<float>(analysis.gate_sparsity(l));
            }
            file.write_floats("analysis/first_token_attn", {L}, fta.data());
            file.write_floats("analysis/max_act", {L, kNumPoints}, max_act.data());
            if (analysis.has_gate) {
              file.write_floats("analysis/gate_score", {L}, gate.data());
              file.write_floats("analysis/gate_sparsity", {L}, sparsity.data());
            }

            if (const RouterLosses* router = model.router_losses())
              write_routing(file, model, *router);

            model.params().zero_grads();
            model.begin_accumulation();
            model.forward_backward(inputs.data(), targets.data(), B, T, 1.0f);
            write_params(file, "grads", model.params(), true);

            const int64_t S = a->steps;
            if (S > 0) {
              AdamW optimizer(config.optimizer, model.params());
              const auto step_inputs = random_tokens(S * A * B * T);
              const auto step_targets = random_tokens(S * A * B * T);
              std::vector<float> losses(S), lrs(S), norms(S);
              for (int64_t s = 0; s < S; ++s) {
                model.params().zero_grads();
                model.begin_accumulation();
                double step_loss = 0.0;
                for (int64_t m = 0; m < A; ++m) {
                  const int64_t off = (s * A + m) * B * T;
                  step_loss +=
                      model.forward_backward(step_inputs.data() + off, step_targets.data() + off, B,
                                             T, 1.0f / static_cast<float>(A));
                }
                const double norm = global_grad_norm(model.params());
                clip_grad_norm(model.params(), norm, tc.max_grad_norm);
                const double lr = learning_rate(config.scheduler, config.optimizer.lr, s, tc.steps);
                optimizer.step(static_cast<float>(lr));
                losses[s] = static_cast<float>(step_loss / A);
                lrs[s] = static_cast<float>(lr);
                norms[s] = static_cast<float>(norm);
              }
              file.write_ints("steps/inputs", {S, A, B, T}, step_inputs.data());
              file.write_ints("steps/targets", {S, A, B, T}, step_targets.data());
              file.write_floats("steps/loss", {S}, losses.data());
              file.write_floats("steps/lr", {S}, lrs.data());
              file.write_floats("steps/grad_norm", {S}, norms.data());
              write_params(file, "final", model.params(), false);
            }
            // RoPE as the model built it for train.seq_len (tests/reference/test_rope_scaling.py):
            // inv_freq in double, the float tables the kernels read, and yarn's untruncated range.
            {
              const ModelConfig& mc = config.model;
              const RopeParameters rope =
                  compute_rope_parameters(mc.head_dim, mc.rope_theta, mc.rope_scaling, T);
              const int64_t half = mc.head_dim / 2;
              file.write_doubles("rope/inv_freq", {half}, rope.inv_freq.data());
              file.write_doubles("rope/attention_scaling", {}, &rope.attention_scaling);
              std::vector<float> cos_t, sin_t;
              build_rope_tables(rope, T, cos_t, sin_t);
              file.write_floats("rope/cos", {T, half}, cos_t.data());
              file.write_floats("rope/sin", {T, half}, sin_t.data());
              const RopeParameters untruncated = compute_rope_parameters(
                  mc.head_dim, mc.rope_theta, mc.rope_scaling, T, /*truncate=*/false);
              file.write_doubles("rope/inv_freq_untruncated", {half}, untruncated.inv_freq.data());
            }
            return 0;
          }};
}

}  // namespace gatedlm::cli
