// Password hashing (detail/password.hpp) against published known answers (Blowfish's pi digits,
// Openwall's bcrypt vectors, RFC 7693's BLAKE2b, RFC 9106's argon2id) and against hashes made by the
// npm `bcrypt` 6.0.0 and `argon2` packages that s3db.js 21.6.2 uses; s3db.js's compact forms; and
// `password` fields in schemas and resources.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "s3db/s3db.hpp"

namespace {

using namespace s3db;
using nlohmann::json;
using nlohmann::ordered_json;

std::string hex(std::string_view bytes) {
    static constexpr char d[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += d[c >> 4];
        out += d[c & 15];
    }
    return out;
}

/// Cheap options for tests: cost 4 is far below what s3db.js hashes with, but every bcrypt checks it.
PasswordOptions fast(PasswordAlgorithm algorithm = PasswordAlgorithm::bcrypt) {
    PasswordOptions o;
    o.algorithm = algorithm;
    o.bcrypt_rounds = 4;
    o.allow_low_bcrypt_rounds = true;
    o.argon2_memory_kib = 64;
    o.argon2_time = 1;
    o.argon2_parallelism = 2;
    return o;
}

TEST(Password, BlowfishInitialStateIsPi) {
    const auto& s = detail::blowfish_initial_state();
    EXPECT_EQ(s.p[0], 0x243F6A88u);
    EXPECT_EQ(s.p[1], 0x85A308D3u);
    EXPECT_EQ(s.p[2], 0x13198A2Eu);
    EXPECT_EQ(s.p[17], 0x8979FB1Bu);
    EXPECT_EQ(s.s[0][0], 0xD1310BA6u);
    EXPECT_EQ(s.s[0][1], 0x98DFB5ACu);
    EXPECT_EQ(s.s[1][0], 0x4B7A70E9u);
    EXPECT_EQ(s.s[2][0], 0xE93D5A68u);
    EXPECT_EQ(s.s[3][0], 0x3A39CE37u);
    EXPECT_EQ(s.s[3][255], 0x3AC372E6u);
}

TEST(Password, BcryptOpenwallVectors) {
    // crypt_blowfish's test vectors ($2a$, cost 5), which OpenBSD's bcrypt and the npm package share
    const std::pair<const char*, const char*> vectors[] = {
        {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
        {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"},
        {"$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"},
        {"$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
         "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored"},
        {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", ""},
    };
    for (const auto& [hash, password] : vectors) {
        std::string_view h = hash;
        auto salt = detail::bcrypt_base64_decode(h.substr(7, 22), detail::bcrypt_salt_bytes);
        ASSERT_TRUE(salt);
        unsigned char s[16];
        std::memcpy(s, salt->data(), 16);
        EXPECT_EQ(detail::bcrypt_hash(password, 5, s, 'a'), h) << password;
        if (*password) {
            EXPECT_TRUE(verify_password(password, h)) << password;
        }
        if (*password && std::strlen(password) < 72) {
            EXPECT_FALSE(verify_password(std::string(password) + "x", h)) << password;
        }
    }
    // "chars after 72 are ignored": only the first 72 bytes count
    const std::string long_password = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    EXPECT_TRUE(verify_password(long_password + "anything else", vectors[3].first));
}

TEST(Password, BcryptHashesOfTheNpmPackage) {
    // made with bcrypt.hash(pw, 4) and bcrypt.hashSync(pw, genSalt(5, 'a')) (npm bcrypt 6.0.0)
    const std::string x80(80, 'x');
    const std::string nul("a\0b", 3);
    const std::pair<std::string, const char*> vectors[] = {
        {"hunter2", "$2b$04$7W/ldj5At8ClspJ6gbKc9..MDDFAJj8xn0By7OP2MhEQTDSq1D94W"},
        {"hunter2", "$2a$05$P2qneJKTQmop152.YNJVEu7M/cKQR/kFkzQPoSYP1hhT2TliaV9fm"},
        {"pässwörd ☃", "$2b$04$GwGNHFumHqr0psqFh/I3s.04IMSuIV1FjHAGBy5BTHhE5TSXsWnBK"},
        {"pässwörd ☃", "$2a$05$JwDHNgUoYJcVlFdJxH7FgeTt5DSJTOozXZbe3YMjR4u.CXyHvCWRW"},
        {x80, "$2b$04$nBsgBtUkHzFt8fXso3xG6OWFMN1CQ9OBV43AXy7tBffkb4AAPxmDe"},
        {x80, "$2a$05$37TnjmMMYORrOaybGMALW.MZH1LaBRECv1LN8yKoXeM2AUZ/IMsPm"},
        {nul, "$2b$04$qGYs0AI.b5Dtd7RlW.avq.pRdV.2tklN73jEOH7RkeZu5mCZ3bZEW"},  // the NUL is hashed too
        {nul, "$2a$05$ip2DoLLz8IIpKCWyihMHx.8YuQn6bGVSS/kfvW2wqmzUY1ij2zzh6"},
    };
    for (const auto& [password, hash] : vectors) {
        EXPECT_TRUE(verify_password(password, hash)) << hash;
        EXPECT_TRUE(verify_password(password, compact_password_hash(hash))) << hash;  // compact: $2b$, same digest
        if (password.size() < 72) {
            EXPECT_FALSE(verify_password(password.substr(0, password.size() - 1), hash)) << hash;
        }
    }
    EXPECT_FALSE(verify_password("a", vectors[6].second));  // not cut at the NUL
    EXPECT_TRUE(verify_password(std::string(72, 'x'), vectors[4].second));  // 72 bytes count, no more
    EXPECT_FALSE(verify_password(std::string(71, 'x'), vectors[4].second));
}

TEST(Password, Blake2bKnownAnswers) {
    // RFC 7693 appendix A
    EXPECT_EQ(hex(detail::blake2b("abc")),
              "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc95"
              "18d38aa8dbf1925ab92386edd4009923");
    // variable output lengths and a key, from Python's hashlib.blake2b
    EXPECT_EQ(hex(detail::blake2b("abc", 20)), "384264f676f39536840523f284921cdc68b6846b");
    EXPECT_EQ(hex(detail::blake2b("", 32)), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    EXPECT_EQ(hex(detail::blake2b(std::string(300, 'a'), 33, "key")),
              "01495c82d1e25c3712605f59c85fb19374e48e9027da06da5655ea702d558eac07");
    // 64-byte digests of every length across block boundaries agree with OpenSSL's BLAKE2b-512
    std::string data;
    for (int n = 0; n <= 300; ++n) {
        unsigned char md[64];
        unsigned int len = 0;
        ASSERT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_blake2b512(), nullptr), 1);
        ASSERT_EQ(detail::blake2b(data), std::string(reinterpret_cast<char*>(md), len)) << n;
        data += static_cast<char>(n * 7 + 1);
    }
}

TEST(Password, Argon2idRfc9106Vector) {
    // RFC 9106 §5.3: argon2id v=0x13, m=32 KiB, t=3, p=4, with secret and associated data
    detail::Argon2Params p{detail::Argon2Type::id, 0x13, 32, 3, 4, 32};
    auto tag = detail::argon2(p, std::string(32, '\x01'), std::string(16, '\x02'), std::string(8, '\x03'),
                              std::string(12, '\x04'));
    EXPECT_EQ(hex(tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
    // §5.1 and §5.2, argon2d and argon2i
    p.type = detail::Argon2Type::d;
    EXPECT_EQ(hex(detail::argon2(p, std::string(32, '\x01'), std::string(16, '\x02'), std::string(8, '\x03'),
                                 std::string(12, '\x04'))),
              "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb");
    p.type = detail::Argon2Type::i;
    EXPECT_EQ(hex(detail::argon2(p, std::string(32, '\x01'), std::string(16, '\x02'), std::string(8, '\x03'),
                                 std::string(12, '\x04'))),
              "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8");
}

TEST(Password, Argon2HashesOfTheNpmPackage) {
    // made with argon2.hash('hunter2', {type, memoryCost, timeCost, parallelism[, hashLength]})
    const char* vectors[] = {
        "$argon2id$v=19$m=8,t=1,p=1$4pw6InSwveX+4PpimMF3+g$CzXeUJVEr6YvRhYzNoz21Qo8n7hB/3btNakca0lw6tE",
        "$argon2id$v=19$m=100,t=2,p=3$CJruiDhnZfKGLpEMsYxhUQ$pAgtfUZxBRYOU+dCWukLAcuA5Ix+DJ8BO3yaXc1tyj0",
        "$argon2id$v=19$m=1024,t=1,p=2$h7O7si1h+T3G2xwprHY1WQ$2KVv7lq2AYhxz+ZSbHjehWZE8TYnJEw/jUQaoG+ralw",
        "$argon2id$v=19$m=64,t=4,p=1$W0ouWNEyy78phhsokY+Gig$C+i3clopAzvw0HLLnrrjo6h/ngz367A9OeHGqfaFC8c",
        "$argon2i$v=19$m=64,t=2,p=2$5gzwPsIBmN7XZ/25J3WMtg$I4VzljTwxuZ5+Pdv61pMiGPUrZWv77/BuH5srURyQk8",
        "$argon2d$v=19$m=64,t=2,p=2$4LMHV6JoVJ4B/mmyLlSLqQ$kQed5mZOjS7AjkkIlMIq+8dHfXwau8HeLGn/g9dn51A",
        "$argon2id$v=19$m=64,t=2,p=1$+I9TV/Zp7kdcVwsWwvm6VA$5kTFpxf+lRCqcxH12GQjwbU1YYNiL6JQBn0mgX9sq5dcD3SS9qRKQaYlDL"
        "t1CJaSotDe1Tms7bGDEydSZ202tNyci+889YG/MvdVO6/q2GY+1qbFMZQpmF7ocwu02rOIq9w04w",  // 100-byte tag: H' chained
    };
    for (const char* h : vectors) {
        EXPECT_TRUE(verify_password("hunter2", h)) << h;
        EXPECT_FALSE(verify_password("hunter3", h)) << h;
        EXPECT_TRUE(is_password_hash(h)) << h;
    }
    // a node-made default hash (m=65536, t=3, p=4), compacted as s3db.js stores it
    const std::string node = "$argon2id$v=19$m=65536,t=3,p=4$q97GfSdzu05zQJVREnvoiA$+49riazgDpEomIJReUAMJnZ1xuA8uHLe7WRKmpWqfSM";
    const std::string compact = compact_password_hash(node);
    EXPECT_EQ(compact, "$j|g|3|4$q97GfSdzu05zQJVREnvoiA$+49riazgDpEomIJReUAMJnZ1xuA8uHLe7WRKmpWqfSM");
    EXPECT_TRUE(verify_password("hunter2", compact));
    EXPECT_FALSE(verify_password("Hunter2", compact));
}

TEST(Password, CompactAndExpandAsS3dbJs) {
    const std::string b = "$2b$12$oki0QhCN1pS5vj5/4wcKTu/3bGxzsdONNasj/6IE4T7qyeyjZ7PJa";
    EXPECT_EQ(compact_password_hash(b), "$c$oki0QhCN1pS5vj5/4wcKTu/3bGxzsdONNasj/6IE4T7qyeyjZ7PJa");
    EXPECT_EQ(expand_password_hash(compact_password_hash(b)), b);
    EXPECT_EQ(compact_password_hash(compact_password_hash(b)), compact_password_hash(b));  // compact stays
    EXPECT_EQ(expand_password_hash(b), b);
    // cost 5 expands with a leading zero, $2a$ compacts to what expands as $2b$
    EXPECT_EQ(expand_password_hash("$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
              "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
    EXPECT_EQ(compact_password_hash("$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
              "$v$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
    const std::string a = "$argon2id$v=19$m=1024,t=1,p=2$h7O7si1h+T3G2xwprHY1WQ$2KVv7lq2AYhxz+ZSbHjehWZE8TYnJEw/jUQaoG+ralw";
    EXPECT_EQ(compact_password_hash(a), "$j|a|1|2$h7O7si1h+T3G2xwprHY1WQ$2KVv7lq2AYhxz+ZSbHjehWZE8TYnJEw/jUQaoG+ralw");
    EXPECT_EQ(expand_password_hash(compact_password_hash(a)), a);
    // what s3db.js cannot compact
    EXPECT_THROW(compact_password_hash("$argon2id$v=19$m=100,t=2,p=3$CJruiDhnZfKGLpEMsYxhUQ$pAgtfUZxBRYOU+dCWukLAcuA5Ix+DJ8BO3yaXc1tyj0"),
                 PasswordError);
    EXPECT_THROW(compact_password_hash("$argon2i$v=19$m=64,t=2,p=2$5gzwPsIBmN7XZ/25J3WMtg$I4VzljTwxuZ5+Pdv61pMiGPUrZWv77/BuH5srURyQk8"),
                 PasswordError);
    // fresh hashes round-trip in both algorithms
    for (auto algo : {PasswordAlgorithm::bcrypt, PasswordAlgorithm::argon2id}) {
        auto full = hash_password("correct horse", fast(algo));
        auto c = compact_password_hash(full);
        EXPECT_EQ(expand_password_hash(c), full);
        EXPECT_TRUE(is_password_hash(full));
        EXPECT_TRUE(is_password_hash(c));
        EXPECT_TRUE(verify_password("correct horse", c));
        EXPECT_FALSE(verify_password("correct horse ", c));
        EXPECT_FALSE(verify_password("", c));
        EXPECT_NE(hash_password("correct horse", fast(algo)), full);  // salted
    }
}

TEST(Password, PepperIsAppended) {
    auto o = fast();
    o.pepper = "pepper!";
    auto h = hash_password("pw", o);
    EXPECT_TRUE(verify_password("pw", h, "pepper!"));
    EXPECT_TRUE(verify_password("pwpepper!", h));  // s3db.js appends it
    EXPECT_FALSE(verify_password("pw", h));
    EXPECT_FALSE(verify_password("pw", h, "salt!"));
}

TEST(Password, TamperedHashesNeverVerify) {
    auto full = hash_password("secret", fast(PasswordAlgorithm::argon2id));
    auto c = compact_password_hash(full);
    std::string t = c;
    t[t.size() - 2] = t[t.size() - 2] == 'A' ? 'B' : 'A';  // digest
    EXPECT_FALSE(verify_password("secret", t));
    std::string salt = c;
    char& s3 = salt[c.find('$', 1) + 3];  // salt
    s3 = s3 == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_password("secret", salt));
    std::string time = c;
    time[c.find('|', 3) + 1] = '2';  // t=1 -> 2
    EXPECT_FALSE(verify_password("secret", time));

    auto b = compact_password_hash(hash_password("secret", fast()));
    std::string bt = b;
    bt.back() = bt.back() == '.' ? '/' : '.';
    EXPECT_FALSE(verify_password("secret", bt));
    std::string cost = b;
    cost[1] = '5';  // $4$ -> $5$
    EXPECT_FALSE(verify_password("secret", cost));
}

TEST(Password, MalformedHashesAreTypedErrorsWithoutSecrets) {
    const char* bad[] = {
        "hunter2", "", "$", "$$", "$2b$12$short", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",        // cost below 4
        "$w$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",            // cost 32
        "$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe!",            // not bcrypt base64
        "$5$CCCCCCCCCCCCCCCCCCCCCCE5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",            // salt not canonical
        "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",                // unknown version
        "$argon2id$v=19$m=64,t=1,p=1,keyid=x$c2FsdHNhbHQ$aGFzaGhhc2g",        // parameters we do not read
        "$argon2id$v=19$m=4,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",                 // memory below 8 KiB per lane
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2g",                     // salt under 8 bytes
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2h",                // digest: stray low bits
        "$argon2id$v=19$m=67108864,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",          // 64 GiB: refused, not allocated
        "$j|w|1|1$c2FsdHNhbHQ$aGFzaGhhc2g",                                    // compact: 2^32 KiB
        "$j|g|3$c2FsdHNhbHQ$aGFzaGhhc2g",                                      // compact: 3 parameters
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    };
    for (const char* h : bad) {
        EXPECT_FALSE(is_password_hash(h)) << h;
        try {
            verify_password("my plaintext", h, "my pepper");
            ADD_FAILURE() << "no error for " << h;
        } catch (const PasswordError& e) {
            const std::string what = e.what();
            EXPECT_EQ(what.find("my plaintext"), std::string::npos);
            EXPECT_EQ(what.find("my pepper"), std::string::npos);
        }
        EXPECT_THROW(expand_password_hash(h), PasswordError) << h;
    }
    static_assert(std::is_base_of_v<Error, PasswordError>);
    EXPECT_THROW(hash_password("", fast()), PasswordError);
    auto o = fast();
    o.allow_low_bcrypt_rounds = false;  // s3db.js's range is 12 to 31
    EXPECT_THROW(hash_password("x", o), PasswordError);
    o.bcrypt_rounds = 32;
    EXPECT_THROW(hash_password("x", o), PasswordError);
    auto a = fast(PasswordAlgorithm::argon2id);
    a.argon2_memory_kib = 96;  // s3db.js stores log2(m)
    EXPECT_THROW(hash_password("x", a), PasswordError);
    a.argon2_memory_kib = 8;  // below 8 KiB per lane (2 lanes)
    EXPECT_THROW(hash_password("x", a), PasswordError);
}

// ---- password fields ----

Schema schema_of(const char* definition, PasswordOptions o = fast()) {
    return Schema::parse(ordered_json::parse(definition), SchemaOptions{.password = std::move(o)});
}

TEST(PasswordField, ParsesBothAlgorithmsAndBothForms) {
    auto s = schema_of(R"({"a":"password","b":"password:bcrypt","c":"password:argon2id|min:4",
                           "d":{"type":"password:argon2id"},"e":{"type":"password"}})");
    const PasswordAlgorithm want[] = {PasswordAlgorithm::bcrypt, PasswordAlgorithm::bcrypt, PasswordAlgorithm::argon2id,
                                      PasswordAlgorithm::argon2id, PasswordAlgorithm::bcrypt};
    for (std::size_t i = 0; i < 5; ++i) {
        const auto& a = s.attributes()[i];
        EXPECT_EQ(a.type, FieldType::password) << a.name;
        ASSERT_TRUE(a.password) << a.name;
        EXPECT_EQ(a.password->algorithm, want[i]) << a.name;
        EXPECT_EQ(a.password->bcrypt_rounds, 4) << a.name;  // the schema's options
    }
    EXPECT_THROW(schema_of(R"({"a":"password:scrypt"})"), SchemaError);
    PasswordOptions weak;
    weak.bcrypt_rounds = 10;  // without allow_low_bcrypt_rounds
    EXPECT_THROW(schema_of(R"({"a":"password"})", weak), SchemaError);
}

TEST(PasswordField, ValidationHashesPlaintextAndKeepsHashes) {
    auto s = schema_of(R"({"pw":"password","pa":"password:argon2id|optional","pm":"password|min:6|optional"})");
    json r = {{"pw", "  hunter2  "}, {"pa", "hunter2"}};
    auto v = s.validate(r);
    const std::string pw = v["pw"], pa = v["pa"];
    EXPECT_THAT(pw, testing::MatchesRegex("^\\$4\\$[./A-Za-z0-9]{53}$"));
    EXPECT_THAT(pa, testing::StartsWith("$j|6|1|2$"));
    EXPECT_TRUE(verify_password("hunter2", pw));  // trimmed first, as s3db.js's string rule does
    EXPECT_TRUE(verify_password("hunter2", pa));
    // a record validated again (an update) keeps its hashes, compact or full
    auto again = s.validate(v);
    EXPECT_EQ(again["pw"], pw);
    EXPECT_EQ(again["pa"], pa);
    auto full = s.validate(json{{"pw", expand_password_hash(pw)}});
    EXPECT_EQ(full["pw"], expand_password_hash(pw));
    // string rules apply to the plaintext; failures never show it
    json shorty = {{"pw", "x"}, {"pm", "abc"}};
    auto failures = s.check(shorty);
    ASSERT_EQ(failures.size(), 1u);
    EXPECT_EQ(failures[0].rule, "stringMin");
    EXPECT_EQ(failures[0].value.find("abc"), std::string::npos);
    json empty = {{"pw", ""}};
    failures = s.check(empty);
    ASSERT_EQ(failures.size(), 1u);
    EXPECT_EQ(failures[0].rule, "passwordHashingProblem");
    json number = {{"pw", 1234}};
    failures = s.check(number);
    ASSERT_EQ(failures.size(), 1u);
    EXPECT_EQ(failures[0].rule, "string");
    EXPECT_EQ(failures[0].value.find("1234"), std::string::npos);
}

TEST(PasswordField, ResourcesStoreTheCompactHash) {
    DatabaseOptions options;
    options.password = fast();
    options.password.pepper = "pep";
    BasicDatabase<Memory> db(Memory{}, options);
    db.connect();
    auto& users = db.create_resource(
        {.name = "users", .attributes = ordered_json{{"name", "string"}, {"pw", "password"}, {"pa", "password:argon2id"}}});
    auto inserted = users.insert({{"id", "u1"}, {"name", "Ada"}, {"pw", "s3cret"}, {"pa", "s3cret"}});
    const std::string pw = inserted["pw"], pa = inserted["pa"];
    EXPECT_TRUE(verify_password("s3cret", pw, "pep"));
    EXPECT_TRUE(verify_password("s3cret", pa, "pep"));
    EXPECT_FALSE(verify_password("s3cret", pw));
    auto got = users.get("u1");
    EXPECT_EQ(got["pw"], pw);
    EXPECT_EQ(got["pa"], pa);
    auto head = db.transport().head("resource=users/data/id=u1");
    ASSERT_TRUE(head);
    std::vector<std::string> values;
    for (const auto& [k, v] : head->metadata) values.push_back(v);
    EXPECT_THAT(values, testing::Contains(pw));
    EXPECT_THAT(values, testing::Contains(pa));
    // an update of another field keeps both hashes; a new plaintext is hashed
    users.update("u1", {{"name", "Ada L."}});
    EXPECT_EQ(users.get("u1")["pw"], pw);
    EXPECT_EQ(users.get("u1")["pa"], pa);
    auto changed = users.update("u1", {{"pw", "n3w"}});
    EXPECT_TRUE(verify_password("n3w", changed["pw"].get<std::string>(), "pep"));
    EXPECT_EQ(changed["pa"], pa);
}

}  // namespace
