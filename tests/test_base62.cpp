// Number encodings of s3db.js records. Unless a comment says otherwise, every expected string was
// printed by s3db.js 21.6.2 (dist/concerns/base62.js) for the same input.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "s3db/detail/base62.hpp"

using namespace s3db::detail;

TEST(Base62, EncodesIntegersLikeS3dbJs) {
    EXPECT_EQ(b62_encode(0), "0");
    EXPECT_EQ(b62_encode(1), "1");
    EXPECT_EQ(b62_encode(9), "9");
    EXPECT_EQ(b62_encode(10), "a");
    EXPECT_EQ(b62_encode(35), "z");
    EXPECT_EQ(b62_encode(36), "A");
    EXPECT_EQ(b62_encode(61), "Z");
    EXPECT_EQ(b62_encode(62), "10");
    EXPECT_EQ(b62_encode(63), "11");
    EXPECT_EQ(b62_encode(100), "1C");
    EXPECT_EQ(b62_encode(3843), "ZZ");
    EXPECT_EQ(b62_encode(3844), "100");
    EXPECT_EQ(b62_encode(33), "x");
    EXPECT_EQ(b62_encode(1704164645000.0), "u0aFb6g");
    EXPECT_EQ(b62_encode(2147483647.0), "2lkCB1");
    EXPECT_EQ(b62_encode(4294967296.0), "4GFfc4");
    EXPECT_EQ(b62_encode(9007199254740991.0), "FfGNdXsE7");
    EXPECT_EQ(b62_encode(9007199254740992.0), "FfGNdXsE8");
}

TEST(Base62, NegativesTakeADashAndFloorFirst) {
    EXPECT_EQ(b62_encode(-1), "-1");
    EXPECT_EQ(b62_encode(-62), "-10");
    EXPECT_EQ(b62_encode(-33), "-x");
    EXPECT_EQ(b62_encode(1.7), "1");
    EXPECT_EQ(b62_encode(-1.5), "-2");
    std::string s;
    append_b62_int(s, -62);
    EXPECT_EQ(s, "-10");
}

TEST(Base62, DecodesWhatItEncodesAndRejectsOtherCharacters) {
    EXPECT_EQ(b62_decode(""), 0.0);
    EXPECT_EQ(b62_decode("z"), 35.0);
    EXPECT_EQ(b62_decode("Z"), 61.0);
    EXPECT_EQ(b62_decode("10"), 62.0);
    EXPECT_EQ(b62_decode("-x"), -33.0);
    EXPECT_EQ(b62_decode("u0aFb6g"), 1704164645000.0);
    EXPECT_FALSE(b62_decode("a.b"));
    EXPECT_FALSE(b62_decode("!"));
    EXPECT_FALSE(b62_decode("x y"));
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10000; ++i) {
        auto n = static_cast<std::int64_t>(rng() >> 11) * (i % 2 ? 1 : -1);  // |n| < 2^53
        EXPECT_EQ(b62_decode(b62_encode(static_cast<double>(n))), static_cast<double>(n));
    }
}

TEST(Base62, IntegersPast2Pow53RoundTripExactly) {
    // s3db.js's double arithmetic loses these (decode(encode(x)) != x for ~20% of them); ours is exact
    for (double x : {9007199254740994.0, 319082551816628000.0, 1152921504606846976.0, 18446744073709549568.0})
        EXPECT_EQ(b62_decode(b62_encode(x)), x) << x;
}

TEST(Base36, KeysAreLowercaseBase36) {
    EXPECT_EQ(b36_encode(0), "0");
    EXPECT_EQ(b36_encode(1), "1");
    EXPECT_EQ(b36_encode(35), "z");
    EXPECT_EQ(b36_encode(36), "10");
    EXPECT_EQ(b36_encode(100), "2s");
    EXPECT_EQ(b36_encode(1295), "zz");
    EXPECT_EQ(b36_encode(1296), "100");
    EXPECT_EQ(b36_decode("2s"), 100u);
    EXPECT_EQ(b36_decode("zz"), 1295u);
    EXPECT_FALSE(b36_decode(""));
    EXPECT_FALSE(b36_decode("A"));  // uppercase is base62, not a key
    EXPECT_FALSE(b36_decode("_v"));
    EXPECT_FALSE(b36_decode("-1"));
}

TEST(JsNumber, FormatsLikeJavaScriptString) {
    // printed by node 20's String(x)
    EXPECT_EQ(js_number(0), "0");
    EXPECT_EQ(js_number(-0.0), "0");
    EXPECT_EQ(js_number(12.5), "12.5");
    EXPECT_EQ(js_number(-12.5), "-12.5");
    EXPECT_EQ(js_number(100), "100");
    EXPECT_EQ(js_number(0.1), "0.1");
    EXPECT_EQ(js_number(0.000001), "0.000001");
    EXPECT_EQ(js_number(0.0000015), "0.0000015");
    EXPECT_EQ(js_number(1e-7), "1e-7");
    EXPECT_EQ(js_number(1.5e-7), "1.5e-7");
    EXPECT_EQ(js_number(1e21), "1e+21");
    EXPECT_EQ(js_number(1.5e21), "1.5e+21");
    EXPECT_EQ(js_number(1e20), "100000000000000000000");
    EXPECT_EQ(js_number(1152921504606846976.0), "1152921504606847000");
    EXPECT_EQ(js_number(1.0 / 3), "0.3333333333333333");
    EXPECT_EQ(js_number(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(js_number(5e-324), "5e-324");
    EXPECT_EQ(js_number(1.7976931348623157e308), "1.7976931348623157e+308");
    EXPECT_EQ(js_number(123e-20), "1.23e-18");
    EXPECT_EQ(js_number(std::numeric_limits<double>::infinity()), "Infinity");
    EXPECT_EQ(js_number(std::nan("")), "NaN");
}

TEST(Base62Decimal, MatchesS3dbJsWhereItRoundTrips) {
    EXPECT_EQ(b62_decimal_encode(12.5), "c.5");
    EXPECT_EQ(b62_decimal_encode(-12.5), "-c.5");
    EXPECT_EQ(b62_decimal_encode(0.1), "0.1");
    EXPECT_EQ(b62_decimal_encode(0.5), "0.5");
    EXPECT_EQ(b62_decimal_encode(-0.5), "-0.5");
    EXPECT_EQ(b62_decimal_encode(3.14159), "3.14159");
    EXPECT_EQ(b62_decimal_encode(123456789.123), "8m0Kx.123");
    EXPECT_EQ(b62_decimal_encode(99.99), "1B.99");
    EXPECT_EQ(b62_decimal_encode(100), "1C");
    EXPECT_EQ(b62_decimal_encode(0), "0");
    EXPECT_EQ(b62_decimal_encode(-0.0), "0");
    EXPECT_EQ(b62_decimal_encode(0.000001), "0.000001");
    EXPECT_EQ(b62_decimal_encode(1.0 / 3), "0.3333333333333333");
    EXPECT_EQ(b62_decimal_encode(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(b62_decimal_encode(1.5e-7), "1.5e-7");
    EXPECT_EQ(b62_decimal_encode(-2.5e-8), "-2.5e-8");
    EXPECT_EQ(b62_decimal_encode(1.23e-18), "1.23e-18");
    EXPECT_EQ(b62_decimal_encode(1.5e21), "1.5e+21");
    EXPECT_EQ(b62_decimal_encode(1.7976931348623157e308), "1.7976931348623157e+308");
    EXPECT_EQ(b62_decimal_encode(9007199254740991.0), "FfGNdXsE7");
}

TEST(Base62Decimal, DoesNotCorruptOneDigitExponentsAsS3dbJsDoes) {
    // s3db.js writes "" for these (1e-7 reads back as "", 5e-324 likewise); s3db.js's decodeDecimal
    // reads our forms exactly: decodeDecimal("1.0e-7") === 1e-7 (checked with node).
    EXPECT_EQ(b62_decimal_encode(1e-7), "1.0e-7");
    EXPECT_EQ(b62_decimal_encode(-3e-9), "-3.0e-9");
    EXPECT_EQ(b62_decimal_encode(5e-324), "5.0e-324");
    EXPECT_EQ(b62_decimal_encode(1e21), "1.0e+21");
    // past 2^53 s3db.js's base62 integer part loses precision; the exponent form does not
    EXPECT_EQ(b62_decimal_encode(1152921504606846976.0), "1.152921504606847e+18");
    for (double x : {1e-7, -3e-9, 5e-324, 1e21, 1152921504606846976.0, 1e300, -1e-300})
        EXPECT_EQ(b62_decimal_decode(b62_decimal_encode(x)), x) << x;
}

TEST(Base62Decimal, ReadsEverythingS3dbJsWrites) {
    EXPECT_EQ(b62_decimal_decode("c.5"), 12.5);
    EXPECT_EQ(b62_decimal_decode("-c.5"), -12.5);
    EXPECT_EQ(b62_decimal_decode("x"), 33.0);
    EXPECT_EQ(b62_decimal_decode("-0.5"), -0.5);
    EXPECT_EQ(b62_decimal_decode("8m0Kx.123"), 123456789.123);
    EXPECT_EQ(b62_decimal_decode("1.5e-7"), 1.5e-7);
    EXPECT_EQ(b62_decimal_decode("1.5e+21"), 1.5e21);
    EXPECT_EQ(b62_decimal_decode("jdt8BLTpPG02"), 1e21);  // s3db.js's base62 of 1e21
    EXPECT_EQ(b62_decimal_decode("0.1e-6"), 1e-7);
    EXPECT_EQ(b62_decimal_decode(""), 0.0);  // what its corrupted 1e-7 decodes to
    EXPECT_FALSE(b62_decimal_decode("c.5x"));
    EXPECT_FALSE(b62_decimal_decode("?"));
}

TEST(Base62Decimal, RoundTripsRandomDoubles) {
    std::mt19937_64 rng(42);
    for (int i = 0; i < 200000; ++i) {
        std::uint64_t bits = rng();
        double x;
        std::memcpy(&x, &bits, sizeof x);
        if (!std::isfinite(x)) continue;
        auto back = b62_decimal_decode(b62_decimal_encode(x));
        ASSERT_TRUE(back) << x;
        ASSERT_EQ(*back, x == 0 ? 0.0 : x) << b62_decimal_encode(x);
    }
}

TEST(FixedPoint, EncodesLikeS3dbJs) {
    EXPECT_EQ(fixed_point_encode(12.34, 2), "^jU");
    EXPECT_EQ(fixed_point_encode(-12.34, 2), "^-jU");
    EXPECT_EQ(fixed_point_encode(0, 2), "^0");
    EXPECT_EQ(fixed_point_encode(12.345, 2), "^jV");
    EXPECT_EQ(fixed_point_encode(-3.14159, 4), "^-8aI");
    EXPECT_EQ(fixed_point_decode("^jU", 2), 12.34);
    EXPECT_EQ(fixed_point_decode("^-8aI", 4), -3.1416);
    EXPECT_FALSE(fixed_point_decode("jU", 2));
    std::string batch = "^[";
    for (double v : {0.5, -0.25, 0.0, 1e-7, 3.1415926535, -1.0}) {
        if (batch.size() > 2) batch += ',';
        append_fixed_point_digits(batch, v, 6);
    }
    batch += ']';
    EXPECT_EQ(batch, "^[264w,-132g,0,0,dbgR,-4c92]");
}

TEST(JsRound, RoundsHalvesUpLikeMathRound) {
    EXPECT_EQ(js_round(2.5), 3);
    EXPECT_EQ(js_round(-2.5), -2);
    EXPECT_EQ(js_round(0.49999999999999994), 0);
    EXPECT_EQ(js_round(-0.5), 0);
    EXPECT_EQ(js_round(1999.0000000000002), 1999);
}
