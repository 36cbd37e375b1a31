#include <string>

#include "gtest/gtest.h"
#include "runtime/conductor.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"

namespace hecate {
namespace {

constexpr char kTiny[] = R"({"model_type": "hecate", "vocab_size": 256, "d_model": 256,
  "n_layers": 4, "n_heads": 4, "window": 128, "periods": [1, 8], "d_ff": 704})";

TEST(ModelConfigTest, ParsesTinyAndRoundTrips) {
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(kTiny);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, *ModelConfig::Preset("tiny"));
  EXPECT_EQ(c->head_dim(), 64);
  absl::StatusOr<ModelConfig> again = ModelConfig::FromJson(c->ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *c);
}

TEST(ModelConfigTest, RejectsBadConfigsWithNamedField) {
  struct Case {
    std::string json;
    std::string expect;
  } cases[] = {
      {"[]", "not a JSON object"},
      {R"({"model_type": "llama"})", "unknown model_type"},
      {R"({"model_type": "hecate", "d_model": 256})", "missing \"vocab_size\""},
      {R"({"model_type": "hecate", "vocab_size": 256, "d_model": 250, "n_layers": 1,
           "n_heads": 4, "window": 8, "periods": [1], "d_ff": 8})", "divide d_model"},
      {R"({"model_type": "hecate", "vocab_size": 256, "d_model": 256, "n_layers": 1,
           "n_heads": 4, "window": 8, "periods": [1, 6, 8], "d_ff": 8})", "divide the next"},
      {R"({"model_type": "hecate", "vocab_size": 256, "d_model": 256, "n_layers": 1,
           "n_heads": 4, "window": 8, "periods": [8, 8], "d_ff": 8})", "increase"},
      {R"({"model_type": "hecate", "vocab_size": 100, "d_model": 256, "n_layers": 1,
           "n_heads": 4, "window": 8, "periods": [1], "d_ff": 8})", "vocab_size"},
      {R"({"model_type": "hecate", "vocab_size": 256, "d_model": "x", "n_layers": 1,
           "n_heads": 4, "window": 8, "periods": [1], "d_ff": 8})", "must be an integer"},
      {R"({"model_type": "hecate", "vocab_size": 256, "d_model": 256, "n_layers": 1,
           "n_heads": 4, "window": 0, "periods": [1], "d_ff": 8})", "window"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ModelConfig> parsed = ModelConfig::FromJson(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expect), std::string::npos)
        << parsed.status() << " should mention " << c.expect;
  }
}

TEST(ConductorTest, LevelsFireOnPeriodBoundaries) {
  Conductor conductor({1, 8, 64});
  for (uint64_t id = 0; id < 1000; ++id) {
    Pulse p = conductor.PulseAt(id);
    EXPECT_TRUE(p.fires(0));
    EXPECT_EQ(p.fires(1), (id + 1) % 8 == 0) << id;
    EXPECT_EQ(p.fires(2), (id + 1) % 64 == 0) << id;
    EXPECT_EQ(conductor.ErrorBufferPhase(1, id), id % 8);
    uint64_t next = conductor.NextFire(2, id);
    EXPECT_GE(next, id);
    EXPECT_TRUE(conductor.PulseAt(next).fires(2));
    for (uint64_t between = id; between < next; ++between) {
      EXPECT_FALSE(conductor.PulseAt(between).fires(2));
    }
  }
  // Pulse ids reach billions and beyond without overflow trouble.
  const uint64_t big = (uint64_t{1} << 40) - 1;
  EXPECT_TRUE(conductor.PulseAt(big).fires(2));
}

TEST(StateLayoutTest, CanonicalTensorsInOrderAndContiguous) {
  ModelConfig c = *ModelConfig::Preset("tiny");
  StateLayout layout(c);
  // Per layer: level0 M,S; level1 M,S,G; window k,v.
  ASSERT_EQ(layout.tensors().size(), 4u * 7u);
  size_t offset = 0;
  for (const StateTensor& t : layout.tensors()) {
    EXPECT_EQ(t.offset, offset) << t.name;
    offset += t.size;
  }
  EXPECT_EQ(offset, layout.total_floats());
  EXPECT_EQ(layout.tensors()[0].name, "layers.0.level0.M");
  EXPECT_EQ(layout.tensors()[4].name, "layers.0.level1.G");
  EXPECT_EQ(layout.tensors()[5].name, "layers.0.attn.k");
  EXPECT_EQ(layout.Find(0, StateKind::kErrorBuffer, 0), -1);
  EXPECT_EQ(layout.Find(3, StateKind::kWindowValues, -1), 27);
  ModelState state(c);
  EXPECT_EQ(state.tensor(1, StateKind::kErrorBuffer, 0), nullptr);
  EXPECT_EQ(state.tensor(1, StateKind::kMemory, 1) - state.data().data(),
            static_cast<ptrdiff_t>(layout.tensors()[9].offset));
}

}  // namespace
}  // namespace hecate
