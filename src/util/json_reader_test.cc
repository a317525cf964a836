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

// Found by fuzzing run.json: "seed": 1e30 reached nlohmann's static_cast to int64 (undefined behaviour).
TEST(JsonReader, IntegerKeysTakeOnlyWholeNumbersInRange) {
  auto read_int64 = [](const Json& v) {
    int64_t out = 0;
    JsonReader(Json{{"k", v}}, "t").Optional("k", &out);
    return out;
  };
  EXPECT_EQ(read_int64(1e4), 10000);  // a whole float is fine
  EXPECT_EQ(read_int64(-7), -7);
  EXPECT_EQ(read_int64(Json(int64_t{1} << 62)), int64_t{1} << 62);
  for (const Json& bad : {Json(1e30), Json(-1e30), Json(3.5), Json(9223372036854775808.0), Json(uint64_t{1} << 63)}) {
    try {
      read_int64(bad);
      FAIL() << bad.dump() << " was read as an int64";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("\"k\" must be a whole number"), std::string::npos) << e.what();
    }
  }
  int narrow = 0;
  EXPECT_THROW(JsonReader(Json{{"k", int64_t{1} << 40}}, "t").Optional("k", &narrow), Error);  // would wrap to 0
  size_t count = 0;
  EXPECT_THROW(JsonReader(Json{{"k", -1}}, "t").Optional("k", &count), Error);  // would wrap to 2^64 - 1
  std::vector<int64_t> list;
  EXPECT_THROW(JsonReader(Json{{"k", {1, 2, 1e300}}}, "t").Optional("k", &list), Error);  // also inside arrays
  EXPECT_NO_THROW(JsonReader(Json{{"k", {1, 2, 3.0}}}, "t").Optional("k", &list));
  EXPECT_EQ(list, (std::vector<int64_t>{1, 2, 3}));
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
