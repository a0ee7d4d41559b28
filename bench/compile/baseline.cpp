// The yardstick: what any program on this card's packages pays before s3db is involved.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

int main() {
    auto doc = nlohmann::json::parse(R"({"name":"Ada","tags":["a","b"],"age":36})");
    doc["seen"] = true;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    const std::string text = doc.dump();
    EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
    CURL* curl = curl_easy_init();
    curl_easy_cleanup(curl);
    std::printf("%s %u\n", text.c_str(), size);
}
