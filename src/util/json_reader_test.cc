#include "util/json_reader.h"

#include <gtest/gtest.h>

#include "util/atomic_file.h"
#include "util/test_util.h"

namespace nerfedit {

TEST(JsonReader, ReadsKnownKeysAndKeepsDefaults) {
  Json j = {{"a", 3}, {"b", "x"}};
  int a = 0, c = 7;
  std::string b;
  JsonReader r(j, "test");
  r.Optional("a", &a).Required("b", &b).Optional("c", &c);
  r.Finish();
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, "x");
  EXPECT_EQ(c, 7);
}

TEST(JsonReader, UnknownKeyIsAnError) {
  Json j = {{"a", 3}, {"lerning_rate", 0.1}};
  int a = 0;
  JsonReader r(j, "config.json");
  r.Optional("a", &a);
  try {
    r.Finish();
    FAIL() << "no error for a misspelt key";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lerning_rate"), std::string::npos) << e.what();
  }
}

TEST(JsonReader, WrongTypeAndMissingRequiredAreErrors) {
  Json j = {{"a", "three"}};
  int a = 0;
  EXPECT_THROW(JsonReader(j, "t").Optional("a", &a), Error);
  EXPECT_THROW(JsonReader(j, "t").Required("zzz", &a), Error);
}

TEST(JsonReader, MalformedFileNamesThePath) {
  testing::TempDir dir;
  WriteTextAtomically(dir / "bad.json", "{\"a\": [1, 2,");
  try {
    ReadJsonFile(dir / "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
  EXPECT_THROW(ReadJsonFile(dir / "missing.json"), Error);
}

}  // namespace nerfedit
