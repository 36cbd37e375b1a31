#include "base/sha256.h"

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string Unhex(absl::string_view hex) { return absl::HexStringToBytes(hex); }

// FIPS 180-2 appendix B (and the empty message).
TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(DigestHex(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestHex(Sha256Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestHex(Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, MillionAsStreamed) {
  Sha256 h;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(thousand);
  EXPECT_EQ(DigestHex(h.Finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Any split of a message into Update() calls gives the one-shot digest.
TEST(Sha256Test, StreamingEqualsOneShot) {
  std::mt19937_64 rng(TestSeed());
  std::string message(3000, '\0');
  for (char& c : message) c = static_cast<char>(rng());
  const Sha256Digest expected = Sha256Of(message);
  for (int trial = 0; trial < 20; ++trial) {
    Sha256 h;
    size_t at = 0;
    while (at < message.size()) {
      const size_t n = std::min<size_t>(rng() % 200, message.size() - at);  // 0 included
      h.Update(absl::string_view(message).substr(at, n));
      at += n;
    }
    EXPECT_TRUE(DigestsEqual(h.Finish(), expected));
  }
}

// RFC 4231 section 4, test cases 1-4, 6 and 7 (5 is a truncated output).
TEST(HmacSha256Test, Rfc4231Vectors) {
  struct Case {
    std::string key, data;
    const char* mac;
  };
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DigestHex(HmacSha256(c.key, c.data)), c.mac) << c.data;
  }
}

TEST(HmacSha256Test, EmptyKeyAndMessage) {
  // Python: hmac.new(b"", b"", hashlib.sha256).hexdigest()
  EXPECT_EQ(DigestHex(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(DigestsEqualTest, EveryByteMatters) {
  const Sha256Digest a = Sha256Of("abc");
  EXPECT_TRUE(DigestsEqual(a, a));
  for (size_t i = 0; i < a.size(); ++i) {
    Sha256Digest b = a;
    b[i] ^= 1;
    EXPECT_FALSE(DigestsEqual(a, b)) << i;
  }
  EXPECT_EQ(DigestBytes(a).size(), kSha256DigestSize);
}

}  // namespace
}  // namespace hecate
