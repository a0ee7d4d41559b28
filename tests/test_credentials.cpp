// Credentials, region and endpoint resolution: the environment chain, the shared credentials and
// config files, the order of precedence, and errors that never contain a secret.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "s3db/transport/credentials.hpp"

namespace fs = std::filesystem;

namespace {

/// Every variable the resolvers read is cleared for each test (HOME points at an empty temp dir,
/// so the machine's own ~/.aws never leaks in) and restored afterwards.
class CredentialsEnv : public ::testing::Test {
protected:
    static constexpr const char* vars[] = {"AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_PROFILE",         "AWS_SHARED_CREDENTIALS_FILE",
                                           "AWS_CONFIG_FILE",     "AWS_REGION",            "AWS_DEFAULT_REGION",
                                           "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",      "HOME"};

    void SetUp() override {
        for (const char* v : vars) {
            if (const char* old = std::getenv(v)) saved_[v] = old;
            ::unsetenv(v);
        }
        char tmpl[] = "/tmp/s3db-credentials-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        set("HOME", dir_.string());
    }

    void TearDown() override {
        for (const char* v : vars) {
            auto it = saved_.find(v);
            if (it == saved_.end()) ::unsetenv(v);
            else ::setenv(v, it->second.c_str(), 1);
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

    std::string write(const std::string& relative, const std::string& content) {
        fs::path p = dir_ / relative;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }

    fs::path dir_;

private:
    std::map<std::string, std::string> saved_;
};

// ---- environment -------------------------------------------------------------------------------

TEST_F(CredentialsEnv, EnvironmentGivesKeysAndSessionToken) {
    set("AWS_ACCESS_KEY_ID", "AKIDENV");
    set("AWS_SECRET_ACCESS_KEY", "env/secret+key");
    EXPECT_EQ(s3db::credentials_from_environment()->session_token, "");
    set("AWS_SESSION_TOKEN", "envtoken");
    auto c = s3db::credentials_from_environment();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->access_key_id, "AKIDENV");
    EXPECT_EQ(c->secret_access_key, "env/secret+key");
    EXPECT_EQ(c->session_token, "envtoken");
}

TEST_F(CredentialsEnv, EnvironmentWithoutKeysGivesNothingAndEmptyMeansUnset) {
    EXPECT_FALSE(s3db::credentials_from_environment());
    set("AWS_ACCESS_KEY_ID", "");
    set("AWS_SECRET_ACCESS_KEY", "");
    EXPECT_FALSE(s3db::credentials_from_environment());
}

TEST_F(CredentialsEnv, HalfAKeyPairInTheEnvironmentIsAnErrorWithoutTheSecret) {
    set("AWS_SECRET_ACCESS_KEY", "lonely-secret-value");
    try {
        s3db::credentials_from_environment();
        FAIL() << "a secret without an access key id was accepted";
    } catch (const s3db::ConfigError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("AWS_ACCESS_KEY_ID"), std::string::npos) << m;
        EXPECT_EQ(m.find("lonely-secret-value"), std::string::npos) << m;
    }
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
    set("AWS_ACCESS_KEY_ID", "AKIDALONE");
    EXPECT_THROW(s3db::credentials_from_environment(), s3db::ConfigError);
}

// ---- shared credentials file -------------------------------------------------------------------

const std::string credentials_file =
    "\xEF\xBB\xBF# a comment line\r\n"
    "; another comment\r\n"
    "[default]\r\n"
    "aws_access_key_id = AKIDDEFAULT\r\n"
    "aws_secret_access_key=default/secret+key#notacomment\r\n"
    "\r\n"
    "[ work ]\n"
    "  aws_access_key_id   =   AKIDWORK   ; inline comment\n"
    "AWS_Secret_Access_Key = work-secret  # inline comment\n"
    "aws_session_token = work-token\n"
    "s3 =\n"
    "  aws_access_key_id = NESTED-NOT-OURS\n"
    "\n"
    "[legacy]\n"
    "aws_access_key_id=AKIDLEGACY\n"
    "aws_secret_access_key=legacy-secret\n"
    "aws_security_token=legacy-token\n"
    "[role-only]\n"
    "role_arn = arn:aws:iam::123456789012:role/x\n"
    "source_profile = default\n";

TEST_F(CredentialsEnv, ProfileFileParsesCommentsSpacesCrlfAndBom) {
    auto file = write("creds", credentials_file);
    auto d = s3db::credentials_from_profile("default", file);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->access_key_id, "AKIDDEFAULT");
    EXPECT_EQ(d->secret_access_key, "default/secret+key#notacomment");  // '#' only starts a comment after a space
    EXPECT_EQ(d->session_token, "");

    auto w = s3db::credentials_from_profile("work", file);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->access_key_id, "AKIDWORK");  // the nested `s3 =` property does not override it
    EXPECT_EQ(w->secret_access_key, "work-secret");
    EXPECT_EQ(w->session_token, "work-token");

    auto l = s3db::credentials_from_profile("legacy", file);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->session_token, "legacy-token");
}

TEST_F(CredentialsEnv, MissingFileProfileOrKeysGiveNothing) {
    auto file = write("creds", credentials_file);
    EXPECT_FALSE(s3db::credentials_from_profile("absent", file));
    EXPECT_FALSE(s3db::credentials_from_profile("role-only", file));
    EXPECT_FALSE(s3db::credentials_from_profile("default", (dir_ / "no-such-file").string()));
}

TEST_F(CredentialsEnv, ProfileAndFileComeFromArgumentsThenEnvironmentThenHome) {
    // $HOME/.aws/credentials with "default" is the last resort.
    write(".aws/credentials", "[default]\naws_access_key_id=AKIDHOME\naws_secret_access_key=home-secret\n"
                              "[work]\naws_access_key_id=AKIDHOMEWORK\naws_secret_access_key=s\n");
    EXPECT_EQ(s3db::credentials_from_profile()->access_key_id, "AKIDHOME");
    set("AWS_PROFILE", "work");
    EXPECT_EQ(s3db::credentials_from_profile()->access_key_id, "AKIDHOMEWORK");
    set("AWS_SHARED_CREDENTIALS_FILE", write("other", credentials_file));
    EXPECT_EQ(s3db::credentials_from_profile()->access_key_id, "AKIDWORK");
    EXPECT_EQ(s3db::credentials_from_profile("legacy")->access_key_id, "AKIDLEGACY");
    EXPECT_EQ(s3db::credentials_from_profile("default", (dir_ / ".aws/credentials").string())->access_key_id,
              "AKIDHOME");
}

TEST_F(CredentialsEnv, HalfAKeyPairInAProfileIsAnErrorNamingFileAndProfileNotTheSecret) {
    auto file = write("creds", "[broken]\naws_secret_access_key = broken-secret-value\n");
    try {
        s3db::credentials_from_profile("broken", file);
        FAIL() << "a profile without an access key id was accepted";
    } catch (const s3db::ConfigError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("'broken'"), std::string::npos) << m;
        EXPECT_NE(m.find(file), std::string::npos) << m;
        EXPECT_NE(m.find("aws_access_key_id"), std::string::npos) << m;
        EXPECT_EQ(m.find("broken-secret-value"), std::string::npos) << m;
    }
}

// ---- the chain -----------------------------------------------------------------------------------

TEST_F(CredentialsEnv, ChainPrefersExplicitThenEnvironmentThenProfile) {
    write(".aws/credentials", "[default]\naws_access_key_id=AKIDFILE\naws_secret_access_key=file-secret\n");
    EXPECT_EQ(s3db::resolve_credentials().access_key_id, "AKIDFILE");
    set("AWS_ACCESS_KEY_ID", "AKIDENV");
    set("AWS_SECRET_ACCESS_KEY", "env-secret");
    EXPECT_EQ(s3db::resolve_credentials().access_key_id, "AKIDENV");
    EXPECT_EQ(s3db::resolve_credentials(s3db::Credentials{"AKIDARG", "arg-secret", "arg-token"}).session_token,
              "arg-token");
    // Empty explicit credentials mean "not given".
    EXPECT_EQ(s3db::resolve_credentials(s3db::Credentials{}).access_key_id, "AKIDENV");
}

TEST_F(CredentialsEnv, IncompleteExplicitCredentialsAreAnError) {
    EXPECT_THROW(s3db::resolve_credentials(s3db::Credentials{"AKIDARG", "", ""}), s3db::ConfigError);
    try {
        s3db::resolve_credentials(s3db::Credentials{"", "explicit-secret-value", ""});
        FAIL() << "a secret without an access key id was accepted";
    } catch (const s3db::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("explicit-secret-value"), std::string::npos) << e.what();
    }
}

TEST_F(CredentialsEnv, NothingFoundIsAConfigErrorNamingWhereItLookedAndNoSecret) {
    // Secrets exist, just not where the chain looks: none may appear in the message.
    set("AWS_SESSION_TOKEN", "stray-token-value");
    set("AWS_PROFILE", "wanted");
    auto file = write(".aws/credentials", "[other]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=other-secret-value\n");
    try {
        s3db::resolve_credentials();
        FAIL() << "credentials were found where there are none";
    } catch (const s3db::ConfigError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("AWS_ACCESS_KEY_ID"), std::string::npos) << m;
        EXPECT_NE(m.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << m;
        EXPECT_NE(m.find("'wanted'"), std::string::npos) << m;
        EXPECT_NE(m.find(file), std::string::npos) << m;
        EXPECT_EQ(m.find("other-secret-value"), std::string::npos) << m;
        EXPECT_EQ(m.find("stray-token-value"), std::string::npos) << m;
        EXPECT_EQ(m.find("AKIDOTHER"), std::string::npos) << m;
    }
}

// ---- region and endpoint -----------------------------------------------------------------------

TEST_F(CredentialsEnv, RegionComesFromArgumentEnvironmentConfigFileThenDefault) {
    EXPECT_EQ(s3db::resolve_region(), "us-east-1");
    write(".aws/config", "[default]\r\nregion = eu-north-1\r\n[profile work]\nregion=ap-south-1 # mumbai\n"
                         "[other]\nregion=sa-east-1\n");
    EXPECT_EQ(s3db::resolve_region(), "eu-north-1");
    set("AWS_PROFILE", "work");
    EXPECT_EQ(s3db::resolve_region(), "ap-south-1");
    // In the config file a bare [other] is not a profile (only [profile other] is).
    set("AWS_PROFILE", "other");
    EXPECT_EQ(s3db::resolve_region(), "us-east-1");
    set("AWS_CONFIG_FILE", write("cfg", "[profile other]\nregion = ca-central-1\n"));
    EXPECT_EQ(s3db::resolve_region(), "ca-central-1");
    set("AWS_DEFAULT_REGION", "eu-west-2");
    EXPECT_EQ(s3db::resolve_region(), "eu-west-2");
    set("AWS_REGION", "eu-west-3");
    EXPECT_EQ(s3db::resolve_region(), "eu-west-3");
    EXPECT_EQ(s3db::resolve_region("us-west-2"), "us-west-2");
}

TEST_F(CredentialsEnv, EndpointComesFromArgumentThenS3VariableThenGeneralVariable) {
    EXPECT_EQ(s3db::resolve_endpoint(), "");
    set("AWS_ENDPOINT_URL", "http://general:1");
    EXPECT_EQ(s3db::resolve_endpoint(), "http://general:1");
    set("AWS_ENDPOINT_URL_S3", "http://s3only:2");
    EXPECT_EQ(s3db::resolve_endpoint(), "http://s3only:2");
    EXPECT_EQ(s3db::resolve_endpoint("http://explicit:3"), "http://explicit:3");
}

TEST(Credentials, EmptyAndCompleteDescribeTheKeyPair) {
    EXPECT_TRUE(s3db::Credentials{}.empty());
    EXPECT_FALSE(s3db::Credentials{}.complete());
    s3db::Credentials half{"AKID", "", ""};
    EXPECT_FALSE(half.empty());
    EXPECT_FALSE(half.complete());
    EXPECT_TRUE((s3db::Credentials{"AKID", "s", ""}.complete()));
}

TEST(Credentials, PrintoutRedactsSecretAndToken) {
    s3db::Credentials c{"AKIDSHOWN", "hidden-secret-value", "hidden-token-value"};
    std::ostringstream os;
    os << c;
    EXPECT_EQ(os.str(), c.to_string());
    EXPECT_NE(os.str().find("AKIDSHOWN"), std::string::npos);
    EXPECT_NE(os.str().find("secret: <redacted>"), std::string::npos);
    EXPECT_EQ(os.str().find("hidden-secret-value"), std::string::npos);
    EXPECT_EQ(os.str().find("hidden-token-value"), std::string::npos);
}

}  // namespace
