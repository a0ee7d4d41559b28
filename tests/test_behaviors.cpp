// Behaviors: how records are split between metadata and body, and read back.
//
// The vectors below were printed by s3db.js 21.6.2 (memory client): `write` holds what its
// behaviors return for the mapped record (metadata keys sanitised as its clients store them),
// `read` holds objects its resources stored (insert, then an update of `name`) and what its `get`
// returned, minus `id` and `_` fields. `<<c*N>>` stands for N copies of c. Where we differ from
// s3db.js on purpose, the test says so.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "s3db/core/behaviors.hpp"
#include "s3db/transport/s3/rules.hpp"

using namespace s3db;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* attributes_json = R"({"name":"string","age":"number|integer","score":"number","active":"boolean",
    "tags":"array|items:string","profile":{"bio":"string","city":"string"},"big":"string|optional"})";

constexpr const char* records_json = R"json(
{"small":{"id":"rec1","name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":5},
 "large":{"id":"rec2","name":"Ana","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"big":"<<z*3000>>","extra":5},
 "unicode":{"id":"rec3","name":"José Ñandú 😀","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"},"big":"<<é*1500>>"},
 "split":{"id":"rec4","name":"Ana","age":1,"score":2,"active":true,"tags":["a"],"profile":{"bio":"short bio","city":"<<c*2500>>"},"note":"free text","meta":{"k":"v","n":1}}}
)json";

constexpr const char* write_vectors_json = R"json(
[
{"behavior":"user-managed","kind":"insert","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"user-managed","kind":"update","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"{\"name\":\"Ana\",\"age\":33,\"score\":12.5,\"active\":true,\"tags\":[\"x\",\"y|z\"],\"profile\":{\"bio\":\"hi\",\"city\":\"SP\"},\"extra\":5,\"id\":\"rec1\"}"},
{"behavior":"user-managed","kind":"insert","record":"large","id":"rec2","metadata":{"_v":"v1"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"user-managed","kind":"update","record":"large","id":"rec2","metadata":{"0":"Ana","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","7":"<<z*3000>>","_v":"v1","extra":"5"},"body":"{\"name\":\"Ana\",\"age\":33,\"score\":12.5,\"active\":false,\"tags\":[],\"profile\":{\"bio\":\"hi\",\"city\":\"SP\"},\"big\":\"<<z*3000>>\",\"extra\":5,\"id\":\"rec2\"}"},
{"behavior":"user-managed","kind":"insert","record":"unicode","id":"rec3","metadata":{"_v":"v1"},"body":"{\"0\":\"José Ñandú 😀\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\"}"},
{"behavior":"user-managed","kind":"update","record":"unicode","id":"rec3","metadata":{"0":"José Ñandú 😀","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","7":"<<é*1500>>","_v":"v1"},"body":"{\"name\":\"José Ñandú 😀\",\"age\":-7,\"score\":0.25,\"active\":true,\"tags\":[\"東京\",\"ß\"],\"profile\":{\"bio\":\"ça va\",\"city\":\"São Paulo\"},\"big\":\"<<é*1500>>\",\"id\":\"rec3\"}"},
{"behavior":"user-managed","kind":"insert","record":"split","id":"rec4","metadata":{"_v":"v1"},"body":"{\"0\":\"Ana\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1}"},
{"behavior":"user-managed","kind":"update","record":"split","id":"rec4","metadata":{"0":"Ana","1":"1","2":"2","3":"1","4":"a","5":"short bio","6":"<<c*2500>>","_v":"v1","note":"free text","meta_k":"v","meta_n":"1"},"body":"{\"name\":\"Ana\",\"age\":1,\"score\":2,\"active\":true,\"tags\":[\"a\"],\"profile\":{\"bio\":\"short bio\",\"city\":\"<<c*2500>>\"},\"note\":\"free text\",\"meta\":{\"k\":\"v\",\"n\":1},\"id\":\"rec4\"}"},
{"behavior":"enforce-limits","kind":"insert","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"enforce-limits","kind":"update","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"enforce-limits","kind":"insert","record":"large","id":"rec2","error":"MetadataLimitError"},
{"behavior":"enforce-limits","kind":"update","record":"large","id":"rec2","error":"MetadataLimitError"},
{"behavior":"enforce-limits","kind":"insert","record":"unicode","id":"rec3","error":"MetadataLimitError"},
{"behavior":"enforce-limits","kind":"update","record":"unicode","id":"rec3","error":"MetadataLimitError"},
{"behavior":"enforce-limits","kind":"insert","record":"split","id":"rec4","error":"MetadataLimitError"},
{"behavior":"enforce-limits","kind":"update","record":"split","id":"rec4","error":"MetadataLimitError"},
{"behavior":"truncate-data","kind":"insert","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"truncate-data","kind":"update","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"body-overflow","kind":"insert","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"body-overflow","kind":"update","record":"small","id":"rec1","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":""},
{"behavior":"body-overflow","kind":"insert","record":"large","id":"rec2","metadata":{"0":"Ana","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","_v":"v1","extra":"5","_overflow":"true"},"body":"{\"7\":\"<<z*3000>>\"}"},
{"behavior":"body-overflow","kind":"update","record":"large","id":"rec2","metadata":{"0":"Ana","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","_v":"v1","extra":"5","_overflow":"true"},"body":"{\"7\":\"<<z*3000>>\"}"},
{"behavior":"body-overflow","kind":"insert","record":"unicode","id":"rec3","metadata":{"0":"José Ñandú 😀","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","_v":"v1","_overflow":"true"},"body":"{\"7\":\"<<é*1500>>\"}"},
{"behavior":"body-overflow","kind":"update","record":"unicode","id":"rec3","metadata":{"0":"José Ñandú 😀","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","_v":"v1","_overflow":"true"},"body":"{\"7\":\"<<é*1500>>\"}"},
{"behavior":"body-overflow","kind":"insert","record":"split","id":"rec4","metadata":{"0":"Ana","1":"1","2":"2","3":"1","4":"a","5":"short bio","_v":"v1","meta_k":"v","meta_n":"1","note":"free text","_overflow":"true"},"body":"{\"6\":\"<<c*2500>>\"}"},
{"behavior":"body-overflow","kind":"update","record":"split","id":"rec4","metadata":{"0":"Ana","1":"1","2":"2","3":"1","4":"a","5":"short bio","_v":"v1","meta_k":"v","meta_n":"1","note":"free text","_overflow":"true"},"body":"{\"6\":\"<<c*2500>>\"}"},
{"behavior":"body-only","kind":"insert","record":"small","id":"rec1","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"body-only","kind":"update","record":"small","id":"rec1","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"body-only","kind":"insert","record":"large","id":"rec2","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"body-only","kind":"update","record":"large","id":"rec2","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5}"},
{"behavior":"body-only","kind":"insert","record":"unicode","id":"rec3","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"José Ñandú 😀\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\"}"},
{"behavior":"body-only","kind":"update","record":"unicode","id":"rec3","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"José Ñandú 😀\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\"}"},
{"behavior":"body-only","kind":"insert","record":"split","id":"rec4","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1}"},
{"behavior":"body-only","kind":"update","record":"split","id":"rec4","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1}"}
]
)json";

constexpr const char* read_vectors_json = R"json(
[
{"behavior":"user-managed","record":"small","op":"insert","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"","result":{"name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"user-managed","record":"small","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5","_contentlength":"0","_lastmodified":"{}","_hascontent":"false","_mimetype":"application/octet-stream","_etag":"\"d41d8cd98f00b204e9800998ecf8427e\"","_definitionhash":"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c","_originalversion":"1","_versionmapped":"true"},"body":"{\"name\":\"Bea\",\"age\":33,\"score\":12.5,\"active\":true,\"tags\":[\"x\",\"y|z\"],\"profile\":{\"bio\":\"hi\",\"city\":\"SP\"},\"extra\":\"5\",\"_contentLength\":0,\"_lastModified\":{},\"_hasContent\":false,\"_mimeType\":\"application/octet-stream\",\"_etag\":\"\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\",\"_v\":\"v1\",\"_definitionHash\":\"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"user-managed","record":"large","op":"insert","metadata":{"_v":"v1"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5}","result":{"name":"Ana","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"big":"<<z*3000>>","extra":5}},
{"behavior":"user-managed","record":"large","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","7":"<<z*3000>>","_v":"v1","extra":"5","_contentlength":"3089","_lastmodified":"{}","_hascontent":"true","_mimetype":"application/json","_etag":"\"c93c11cdab1314ba6319900b806cfd85\"","_definitionhash":"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c","_originalversion":"1","_versionmapped":"true"},"body":"{\"name\":\"Bea\",\"age\":33,\"score\":12.5,\"active\":false,\"tags\":[],\"profile\":{\"bio\":\"hi\",\"city\":\"SP\"},\"big\":\"<<z*3000>>\",\"extra\":5,\"_contentLength\":3089,\"_lastModified\":{},\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"c93c11cdab1314ba6319900b806cfd85\\\"\",\"_v\":\"v1\",\"_definitionHash\":\"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"big":"<<z*3000>>","extra":"5"}},
{"behavior":"user-managed","record":"unicode","op":"insert","metadata":{"_v":"v1"},"body":"{\"0\":\"José Ñandú 😀\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\"}","result":{"name":"José Ñandú 😀","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"},"big":"<<é*1500>>"}},
{"behavior":"user-managed","record":"unicode","op":"update","metadata":{"0":"Bea","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","7":"<<é*1500>>","_v":"v1","_contentlength":"3117","_lastmodified":"{}","_hascontent":"true","_mimetype":"application/json","_etag":"\"38c7f6dd5bbc64591d48809cf9e6a648\"","_definitionhash":"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c","_originalversion":"1","_versionmapped":"true"},"body":"{\"name\":\"Bea\",\"age\":-7,\"score\":0.25,\"active\":true,\"tags\":[\"東京\",\"ß\"],\"profile\":{\"bio\":\"ça va\",\"city\":\"São Paulo\"},\"big\":\"<<é*1500>>\",\"_contentLength\":3117,\"_lastModified\":{},\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"38c7f6dd5bbc64591d48809cf9e6a648\\\"\",\"_v\":\"v1\",\"_definitionHash\":\"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"},"big":"<<é*1500>>"}},
{"behavior":"user-managed","record":"split","op":"insert","metadata":{"_v":"v1"},"body":"{\"0\":\"Ana\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1}","result":{"name":"Ana","age":1,"score":2,"active":true,"tags":["a"],"profile":{"bio":"short bio","city":"<<c*2500>>"},"note":"free text","meta":{"k":"v","n":1}}},
{"behavior":"user-managed","record":"split","op":"update","metadata":{"0":"Bea","1":"1","2":"2","3":"1","4":"a","5":"short bio","6":"<<c*2500>>","_v":"v1","note":"free text","meta_k":"v","meta_n":"1","_contentlength":"2619","_lastmodified":"{}","_hascontent":"true","_mimetype":"application/json","_etag":"\"f39949533279a716cc5e9fae8c6e523f\"","_definitionhash":"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c","_originalversion":"1","_versionmapped":"true"},"body":"{\"name\":\"Bea\",\"age\":1,\"score\":2,\"active\":true,\"tags\":[\"a\"],\"profile\":{\"bio\":\"short bio\",\"city\":\"<<c*2500>>\"},\"note\":\"free text\",\"meta\":{\"k\":\"v\",\"n\":1},\"_contentLength\":2619,\"_lastModified\":{},\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"f39949533279a716cc5e9fae8c6e523f\\\"\",\"_v\":\"v1\",\"_definitionHash\":\"sha256:49840de9da42bec88b58aa82c72ca8910179b6232287487f9aa2163b24f4666c\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":1,"score":2,"active":true,"tags":["a"],"profile":{"bio":"short bio","city":"<<c*2500>>"},"note":"free text","meta":{"k":"v","n":1},"meta_k":"v","meta_n":"1"}},
{"behavior":"enforce-limits","record":"small","op":"insert","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"","result":{"name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"enforce-limits","record":"small","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5","_contentlength":"0","_lastmodified":"{}","_hascontent":"false","_mimetype":"application/octet-stream","_etag":"\"d41d8cd98f00b204e9800998ecf8427e\"","_definitionhash":"sha256:6bc71f896c994597fd91b53befe81f1c7655766be9cd6d2389a70a8b3ec45341","_originalversion":"1","_versionmapped":"true"},"body":"{\"0\":\"Bea\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":\"5\",\"_contentLength\":0,\"_lastModified\":\"{}\",\"_hasContent\":false,\"_mimeType\":\"application/octet-stream\",\"_etag\":\"\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\",\"_definitionHash\":\"sha256:6bc71f896c994597fd91b53befe81f1c7655766be9cd6d2389a70a8b3ec45341\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"truncate-data","record":"small","op":"insert","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"","result":{"name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"truncate-data","record":"small","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5","_contentlength":"0","_hascontent":"false","_originalversion":"1","_versionmapped":"true","_lastmodified":"{}","_mimetype":"application/octet-stream","_etag":"\"d41d8cd98f00b204e9800998ecf8427e\"","_definitionhash":"sha256:d37855900435a4d68ced258a336143f1e59d2419ae4dacbb9ee7781e752a4ef7"},"body":"","result":{"name":"Bea","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"body-overflow","record":"small","op":"insert","metadata":{"0":"Ana","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5"},"body":"","result":{"name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"body-overflow","record":"small","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"1","4":"x|y\\|z","5":"hi","6":"SP","_v":"v1","extra":"5","_contentlength":"0","_hascontent":"false","_originalversion":"1","_versionmapped":"true","_lastmodified":"{}","_mimetype":"application/octet-stream","_etag":"\"d41d8cd98f00b204e9800998ecf8427e\"","_definitionhash":"sha256:cf5e75b8675c90164763ed900558aa887deb5dd2cd60e49fd258320afdbbaba1"},"body":"","result":{"name":"Bea","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"body-overflow","record":"large","op":"insert","metadata":{"0":"Ana","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","_v":"v1","extra":"5","_overflow":"true"},"body":"{\"7\":\"<<z*3000>>\"}","result":{"big":"<<z*3000>>","name":"Ana","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"body-overflow","record":"large","op":"update","metadata":{"0":"Bea","1":"x","2":"c.5","3":"0","4":"","5":"hi","6":"SP","_v":"v1","extra":"5","_hascontent":"true","_originalversion":"1","_versionmapped":"true","_lastmodified":"{}","_contentlength":"3008","_mimetype":"application/json","_etag":"\"8d9d44ad8a3a5dae2fa22276d83a54de\"","_definitionhash":"sha256:cf5e75b8675c90164763ed900558aa887deb5dd2cd60e49fd258320afdbbaba1","_overflow":"true"},"body":"{\"7\":\"<<z*3000>>\"}","result":{"big":"<<z*3000>>","name":"Bea","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"extra":"5"}},
{"behavior":"body-overflow","record":"unicode","op":"insert","metadata":{"0":"José Ñandú 😀","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","_v":"v1","_overflow":"true"},"body":"{\"7\":\"<<é*1500>>\"}","result":{"big":"<<é*1500>>","name":"José Ñandú 😀","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"}}},
{"behavior":"body-overflow","record":"unicode","op":"update","metadata":{"0":"Bea","1":"-7","2":"0.25","3":"1","4":"東京|ß","5":"ça va","6":"São Paulo","_v":"v1","_hascontent":"true","_originalversion":"1","_versionmapped":"true","_lastmodified":"{}","_contentlength":"3008","_mimetype":"application/json","_etag":"\"cff5dfb748e47fcf81617a887f2b95ce\"","_definitionhash":"sha256:cf5e75b8675c90164763ed900558aa887deb5dd2cd60e49fd258320afdbbaba1","_overflow":"true"},"body":"{\"7\":\"<<é*1500>>\"}","result":{"big":"<<é*1500>>","name":"Bea","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"}}},
{"behavior":"body-overflow","record":"split","op":"insert","metadata":{"0":"Ana","1":"1","2":"2","3":"1","4":"a","5":"short bio","_v":"v1","meta_k":"v","meta_n":"1","note":"free text","_overflow":"true"},"body":"{\"6\":\"<<c*2500>>\"}","result":{"profile":{"bio":"short bio"},"name":"Ana","age":1,"score":2,"active":true,"tags":["a"],"meta_k":"v","meta_n":"1","note":"free text"}},
{"behavior":"body-only","record":"small","op":"insert","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":5}","result":{"name":"Ana","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":5}},
{"behavior":"body-only","record":"small","op":"update","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Bea\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"1\",\"4\":\"x|y\\\\|z\",\"5\":\"hi\",\"6\":\"SP\",\"_v\":\"v1\",\"extra\":5,\"_contentLength\":89,\"_lastModified\":\"{}\",\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"a332a3b172d375d72ea10e18cf3905e2\\\"\",\"_definitionHash\":\"sha256:d7fd2a2067dc8ad5c4c6a07bf717638cac0f8becfa765a255251d079259a90a2\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":33,"score":12.5,"active":true,"tags":["x","y|z"],"profile":{"bio":"hi","city":"SP"},"extra":5}},
{"behavior":"body-only","record":"large","op":"insert","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5}","result":{"name":"Ana","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"big":"<<z*3000>>","extra":5}},
{"behavior":"body-only","record":"large","op":"update","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Bea\",\"1\":\"x\",\"2\":\"c.5\",\"3\":\"0\",\"4\":\"\",\"5\":\"hi\",\"6\":\"SP\",\"7\":\"<<z*3000>>\",\"_v\":\"v1\",\"extra\":5,\"_contentLength\":3089,\"_lastModified\":\"{}\",\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"c93c11cdab1314ba6319900b806cfd85\\\"\",\"_definitionHash\":\"sha256:d7fd2a2067dc8ad5c4c6a07bf717638cac0f8becfa765a255251d079259a90a2\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":33,"score":12.5,"active":false,"tags":[],"profile":{"bio":"hi","city":"SP"},"big":"<<z*3000>>","extra":5}},
{"behavior":"body-only","record":"unicode","op":"insert","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"José Ñandú 😀\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\"}","result":{"name":"José Ñandú 😀","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"},"big":"<<é*1500>>"}},
{"behavior":"body-only","record":"unicode","op":"update","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Bea\",\"1\":\"-7\",\"2\":\"0.25\",\"3\":\"1\",\"4\":\"東京|ß\",\"5\":\"ça va\",\"6\":\"São Paulo\",\"7\":\"<<é*1500>>\",\"_v\":\"v1\",\"_contentLength\":3117,\"_lastModified\":\"{}\",\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"38c7f6dd5bbc64591d48809cf9e6a648\\\"\",\"_definitionHash\":\"sha256:d7fd2a2067dc8ad5c4c6a07bf717638cac0f8becfa765a255251d079259a90a2\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":-7,"score":0.25,"active":true,"tags":["東京","ß"],"profile":{"bio":"ça va","city":"São Paulo"},"big":"<<é*1500>>"}},
{"behavior":"body-only","record":"split","op":"insert","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Ana\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1}","result":{"name":"Ana","age":1,"score":2,"active":true,"tags":["a"],"profile":{"bio":"short bio","city":"<<c*2500>>"},"note":"free text","meta":{"k":"v","n":1}}},
{"behavior":"body-only","record":"split","op":"update","metadata":{"_v":"v1","_map":"{\"name\":\"0\",\"age\":\"1\",\"score\":\"2\",\"active\":\"3\",\"tags\":\"4\",\"profile.bio\":\"5\",\"profile.city\":\"6\",\"big\":\"7\",\"profile\":\"8\"}"},"body":"{\"0\":\"Bea\",\"1\":\"1\",\"2\":\"2\",\"3\":\"1\",\"4\":\"a\",\"5\":\"short bio\",\"6\":\"<<c*2500>>\",\"_v\":\"v1\",\"note\":\"free text\",\"meta.k\":\"v\",\"meta.n\":1,\"_contentLength\":2619,\"_lastModified\":\"{}\",\"_hasContent\":true,\"_mimeType\":\"application/json\",\"_etag\":\"\\\"f39949533279a716cc5e9fae8c6e523f\\\"\",\"_definitionHash\":\"sha256:d7fd2a2067dc8ad5c4c6a07bf717638cac0f8becfa765a255251d079259a90a2\",\"_originalVersion\":\"1\",\"_versionMapped\":true}","result":{"name":"Bea","age":1,"score":2,"active":true,"tags":["a"],"profile":{"bio":"short bio","city":"<<c*2500>>"},"note":"free text","meta":{"k":"v","n":1}}}
]
)json";

/// `<<c*N>>` → N copies of the (UTF-8) character c.
std::string expand(std::string_view s) {
    std::string out;
    while (true) {
        auto open = s.find("<<");
        if (open == std::string_view::npos) return out += s;
        out += s.substr(0, open);
        auto star = s.find('*', open + 2);
        auto close = s.find(">>", star);
        std::string c(s.substr(open + 2, star - open - 2));
        int n = std::stoi(std::string(s.substr(star + 1, close - star - 1)));
        for (int i = 0; i < n; ++i) out += c;
        s.remove_prefix(close + 2);
    }
}

json vectors(const char* text) { return json::parse(expand(text)); }

Metadata metadata_from(const json& j) {
    Metadata m;
    for (auto it = j.begin(); it != j.end(); ++it) m.emplace(it.key(), it.value().get<std::string>());
    return m;
}

struct Fixture {
    ordered_json attributes = ordered_json::parse(attributes_json);
    Schema schema = Schema::parse(attributes);
    std::map<std::string, int> mapping = assign_indices(attributes);
    Codec codec{schema, mapping};
    std::string map_json = schema_map_json(schema, mapping);

    MappedRecord map(const json& record) const { return codec.map(schema.validate(record)); }
    json expected(const json& record) const {
        json v = schema.validate(record);
        v.erase("id");
        return v;
    }
    BehaviorContext context(std::string_view id, WriteKind kind = WriteKind::insert) const {
        return {"items", id, calculate_effective_limit(s3db_metadata_limit, "v1", false, id), kind, map_json, {}, &codec};
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

json record(const std::string& label) { return vectors(records_json).at(label); }

std::size_t stored_size(const Metadata& m) {  // s3db.js's measure, for metadata holding only text
    std::size_t n = 0;
    for (const auto& [k, v] : m) n += k.size() + v.size();
    return n;
}

std::size_t wire_size(const Metadata& m) {  // what the store counts: values `u:`/`b:`-encoded
    std::size_t n = 0;
    for (const auto& [k, v] : m) n += k.size() + detail::encoded_metadata_size(v);
    return n;
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

const AnyBehavior all_behaviors[] = {UserManaged{}, EnforceLimits{}, TruncateData{}, BodyOverflow{}, BodyOnly{}};

// A behavior-shaped type without `read`: the concept must reject it.
struct WriteOnly {
    static constexpr std::string_view name = "write-only";
    static constexpr bool reads_body = false;
    StoredRecord write(MappedRecord, const BehaviorContext&) const { return {}; }
};

}  // namespace

static_assert(Behavior<UserManaged> && Behavior<EnforceLimits> && Behavior<TruncateData> && Behavior<BodyOverflow> &&
              Behavior<BodyOnly>);
static_assert(!Behavior<WriteOnly>);
static_assert(!Behavior<int>);

// ---- the s3db.js layouts ----

TEST(BehaviorsS3dbJs, WritesTheMetadataAndBodyS3dbJsWrites) {
    const Fixture& f = fixture();
    json records = vectors(records_json);
    json all = vectors(write_vectors_json);
    std::map<std::string, json> vectors_by_case;
    for (const auto& v : all)
        vectors_by_case[v["behavior"].get<std::string>() + " " + v["kind"].get<std::string>() + " " + v["record"].get<std::string>()] = v;
    for (const auto& v : all) {
        const std::string b = v["behavior"], label = v["record"], id = v["id"];
        SCOPED_TRACE(b + " " + v["kind"].get<std::string>() + " " + label);
        AnyBehavior behavior = behavior_from_name(b);
        BehaviorContext ctx = f.context(id, v["kind"] == "insert" ? WriteKind::insert : WriteKind::update);
        if (v.contains("error")) {  // s3db.js's MetadataLimitError
            EXPECT_THROW(behavior_write(behavior, f.map(records[label]), ctx), RecordTooLarge);
            continue;
        }
        MappedRecord mapped = f.map(records[label]);
        const bool over = static_cast<std::int64_t>(calculate_total_size(mapped)) > ctx.effective_limit;
        StoredRecord out = behavior_write(behavior, std::move(mapped), ctx);
        const std::string js_body = v["body"];
        if (b == "user-managed" && ctx.kind == WriteKind::update) {
            // Our update body holds no field (see UserManaged); both readers return the same record.
            const json& insert = vectors_by_case.at(b + " insert " + label);
            EXPECT_EQ(out.content_type, "application/json");
            if (!over) {
                EXPECT_EQ(behavior_read(behavior, f.codec, out.metadata, out.body),
                          behavior_read(behavior, f.codec, metadata_from(v["metadata"]), js_body));
                EXPECT_EQ(out.metadata, metadata_from(v["metadata"]));
                EXPECT_EQ(json::parse(out.body).size(), 2u);
            } else {  // s3db.js writes metadata the store refuses
                EXPECT_EQ(out.metadata, metadata_from(insert["metadata"]));
                EXPECT_EQ(json::parse(out.body), json::parse(insert["body"].get<std::string>()));
            }
            continue;
        }
        if (b == "body-overflow" && ctx.kind == WriteKind::update && js_body.empty()) {
            // A record that fits is updated with a digest body no reader looks at, so its ETag
            // differs from the version it replaces (s3db.js writes none and loses concurrent updates).
            EXPECT_EQ(out.metadata, metadata_from(v["metadata"]));
            EXPECT_EQ(json::parse(out.body).size(), 2u);
            EXPECT_EQ(behavior_read(behavior, f.codec, out.metadata, out.body),
                      behavior_read(behavior, f.codec, metadata_from(v["metadata"]), js_body));
            continue;
        }
        EXPECT_EQ(out.content_type, js_body.empty() ? "" : "application/json");
        Metadata js_metadata = metadata_from(v["metadata"]);
        std::string expected_body = js_body;
        if (b == "body-overflow" && label == "split") {
            // profile.city spills, so we spill profile.bio with it (s3db.js cannot read the split)
            json moved = json::parse(js_body);
            moved["5"] = js_metadata.at("5");
            js_metadata.erase("5");
            expected_body = detail::js_json(moved);  // "5" before "6": the same order s3db.js would use
        }
        EXPECT_EQ(out.metadata, js_metadata);
        if (js_body.empty()) {
            EXPECT_EQ(out.body, "");
            continue;
        }
        EXPECT_EQ(json::parse(out.body), json::parse(expected_body));
        // Same bytes too, except where s3db.js orders unknown fields by the caller's key order,
        // which a nlohmann::json record does not keep.
        if (label != "split" || b == "body-overflow") {
            EXPECT_EQ(out.body, expected_body);
        }
    }
}

TEST(BehaviorsS3dbJs, ReadsTheObjectsS3dbJsStored) {
    const Fixture& f = fixture();
    json records = vectors(records_json);
    for (const auto& v : vectors(read_vectors_json)) {
        const std::string b = v["behavior"], label = v["record"];
        SCOPED_TRACE(b + " " + label + " after " + v["op"].get<std::string>());
        json expected = v["result"];
        if (b == "body-overflow" && label == "split") {
            // s3db.js loses profile.city, stored in the body while profile.bio stayed in metadata
            // (and then fails to update the record). We merge the halves.
            EXPECT_FALSE(expected["profile"].contains("city"));
            expected["profile"]["city"] = records["split"]["profile"]["city"];
        }
        EXPECT_EQ(behavior_read(behavior_from_name(b), f.codec, metadata_from(v["metadata"]), v["body"].get<std::string>()),
                  expected);
    }
}

TEST(BehaviorsS3dbJs, MapJsonIsTheMapS3dbJsStoresForBodyOnly) {
    EXPECT_EQ(fixture().map_json,
              R"({"name":"0","age":"1","score":"2","active":"3","tags":"4","profile.bio":"5","profile.city":"6","big":"7","profile":"8"})");
}

TEST(BehaviorsS3dbJs, BodyListsKeysInJavaScriptObjectOrder) {
    // integer-like keys first, ascending ("9" before "10"), then the rest as inserted
    MappedRecord r = {{"_v", "v1"}, {"b", "x"}, {"10", "y"}, {"9", "z"}, {"01", "1", MappedField::Kind::number},
                      {"a", "true", MappedField::Kind::boolean}, {"n", "null", MappedField::Kind::null}};
    StoredRecord out = UserManaged{}.write(r, {"items", "id1", 10, WriteKind::insert, {}, {}});  // over: all in the body
    EXPECT_EQ(out.body, R"({"9":"z","10":"y","_v":"v1","b":"x","01":1,"a":true,"n":null})");
}

// ---- round trips ----

TEST(Behaviors, EveryBehaviorReadsBackWhatItWroteUnderTheLimit) {
    const Fixture& f = fixture();
    json rec = {{"id", "r1"}, {"name", "José 😀"}, {"age", 7}, {"score", -1.25}, {"active", false},
                {"tags", {"a|b", "c\\d"}}, {"profile", {{"bio", "x"}, {"city", "y"}}}, {"note", "free"}};
    for (const AnyBehavior& b : all_behaviors)
        for (WriteKind kind : {WriteKind::insert, WriteKind::update}) {
            SCOPED_TRACE(std::string(behavior_name(b)) + (kind == WriteKind::insert ? " insert" : " update"));
            StoredRecord out = behavior_write(b, f.map(rec), f.context("r1", kind));
            EXPECT_FALSE(out.metadata.count("_overflow") || out.metadata.count("_truncated"));
            EXPECT_EQ(behavior_read(b, f.codec, out.metadata, out.body), f.expected(rec));
        }
}

TEST(Behaviors, BehaviorsThatUseTheBodyReadBackRecordsOverTheLimit) {
    const Fixture& f = fixture();
    json rec = {{"id", "r2"}, {"name", "n"}, {"age", 1}, {"score", 2}, {"active", true}, {"tags", json::array()},
                {"profile", {{"bio", std::string(900, 'b')}, {"city", std::string(1500, 'c')}}},
                {"big", std::string(2000, 'z')}, {"note", "ü"}};
    for (const AnyBehavior& b : {AnyBehavior(UserManaged{}), AnyBehavior(BodyOverflow{}), AnyBehavior(BodyOnly{})})
        for (WriteKind kind : {WriteKind::insert, WriteKind::update}) {
            SCOPED_TRACE(std::string(behavior_name(b)) + (kind == WriteKind::insert ? " insert" : " update"));
            StoredRecord out = behavior_write(b, f.map(rec), f.context("r2", kind));
            EXPECT_LE(stored_size(out.metadata), 2047u - 34);
            EXPECT_EQ(out.content_type, "application/json");
            EXPECT_EQ(behavior_read(b, f.codec, out.metadata, out.body), f.expected(rec));
        }
}

// ---- user-managed ----

TEST(UserManaged, InsertThatFitsIsMetadataOnly) {
    const Fixture& f = fixture();
    StoredRecord out = UserManaged{}.write(f.map(record("small")), f.context("rec1"));
    EXPECT_EQ(out.body, "");
    EXPECT_EQ(out.content_type, "");
    EXPECT_EQ(out.metadata.at("0"), "Ana");
}

TEST(UserManaged, InsertOverTheLimitKeepsOnlyTheVersionInMetadata) {
    const Fixture& f = fixture();
    BehaviorContext ctx = f.context("rec2");
    ctx.plugin_map_json = R"({"_score":"pabc"})";
    MappedRecord mapped = f.map(record("large"));
    std::string mapped_json = detail::mapped_body_json(mapped);
    StoredRecord out = UserManaged{}.write(std::move(mapped), ctx);
    EXPECT_EQ(out.metadata, (Metadata{{"_v", "v1"}, {"_pluginmap", R"({"_score":"pabc"})"}}));
    EXPECT_EQ(out.body, mapped_json);
}

TEST(UserManaged, UpdateOverTheLimitUsesTheInsertLayoutInsteadOfMetadataTheStoreRefuses) {
    const Fixture& f = fixture();
    StoredRecord out = UserManaged{}.write(f.map(record("large")), f.context("rec2", WriteKind::update));
    EXPECT_EQ(out.metadata, (Metadata{{"_v", "v1"}}));
    EXPECT_EQ(UserManaged{}.read(f.codec, out.metadata, out.body), f.expected(record("large")));
}

TEST(UserManaged, UpdateThatFitsKeepsTheRecordInMetadataAndADigestOfItAsTheBody) {
    // s3db.js returns the keys of a body under mapped keys ("0", "1", ...) as extra fields when the
    // metadata holds the record too. The body is only there to give each version its own ETag.
    const Fixture& f = fixture();
    StoredRecord update = UserManaged{}.write(f.map(record("small")), f.context("rec1", WriteKind::update));
    StoredRecord insert = UserManaged{}.write(f.map(record("small")), f.context("rec1", WriteKind::insert));
    EXPECT_EQ(update.metadata, insert.metadata);
    EXPECT_EQ(insert.body, "");
    EXPECT_EQ(update.content_type, "application/json");
    json body = json::parse(update.body);
    EXPECT_EQ(body.size(), 2u);
    EXPECT_EQ(body["_v"], "v1");
    EXPECT_EQ(body["_digest"].get<std::string>().size(), 64u);
    EXPECT_EQ(UserManaged{}.read(f.codec, update.metadata, update.body), UserManaged{}.read(f.codec, insert.metadata, ""));

    json changed = record("small");
    changed["name"] = "Bea";
    StoredRecord other = UserManaged{}.write(f.map(changed), f.context("rec1", WriteKind::update));
    EXPECT_NE(other.body, update.body);  // another version, another ETag
    EXPECT_EQ(UserManaged{}.write(f.map(record("small")), f.context("rec1", WriteKind::update)).body, update.body);
}

TEST(UserManaged, ReadsSkipADigestBodyWithoutParsingItAndParseAnythingElse) {
    const Fixture& f = fixture();
    StoredRecord update = UserManaged{}.write(f.map(record("small")), f.context("rec1", WriteKind::update));
    std::string salted = update.body;
    s3db::detail::append_etag_salt(salted);
    EXPECT_TRUE(s3db::detail::is_digest_body(update.body));
    EXPECT_TRUE(s3db::detail::is_digest_body(salted));
    EXPECT_EQ(UserManaged{}.read(f.codec, update.metadata, salted), UserManaged{}.read(f.codec, update.metadata, ""));
    // Near misses are parsed as JSON: a field beside the digest, a short digest, text after it.
    std::string digest = json::parse(update.body)["_digest"];
    for (std::string body : {"{\"_v\":\"v1\",\"_digest\":\"" + digest + "\",\"1\":\"x\"}",
                             "{\"_v\":\"v1\",\"_digest\":\"" + digest.substr(1) + "\"}",
                             "{\"_v\":\"v1\",\"_digest\":\"" + digest + "\"} x", std::string("{\"_v\":\"v\\\"1\"}"),
                             // 64 bytes, but a field inside them, or an escaped quote after them
                             "{\"_v\":\"v1\",\"_digest\":\"ab\",\"1\":\"" + std::string(55, 'x') + "\"}",
                             "{\"_v\":\"v1\",\"_digest\":\"" + digest.substr(0, 63) + "\\\"}\"}"})
        EXPECT_FALSE(s3db::detail::is_digest_body(body)) << body;
    std::string with_field = "{\"_v\":\"v1\",\"_digest\":\"" + digest + "\",\"1\":\"x\"}";
    EXPECT_EQ(UserManaged{}.read(f.codec, {{"_v", "v1"}}, with_field).size(), 1u);  // "1" read from the body
}

TEST(UserManaged, NonAsciiTextThatOnlyFitsByS3dbJsCountGoesToTheBody) {
    // 600 "é" count 1200 bytes for s3db.js, but travel as 1602 (`b:` + base64): with the 700
    // other bytes, S3 would refuse that metadata.
    MappedRecord r = {{"_v", "v1"}, {"0", std::string(700, 'a')}, {"1", ""}};
    for (int i = 0; i < 600; ++i) r[2].value += "é";
    ASSERT_LE(static_cast<std::int64_t>(calculate_total_size(r)), 2019);
    StoredRecord out = UserManaged{}.write(r, {"items", "x", 2019, WriteKind::insert, {}, {}});
    EXPECT_EQ(out.metadata, (Metadata{{"_v", "v1"}}));
    EXPECT_EQ(json::parse(out.body)["1"].get<std::string>().size(), 1200u);
}

TEST(UserManaged, MetadataWinsOverTheBodyAndABadBodyIsIgnored) {
    const Fixture& f = fixture();
    Metadata m = {{"_v", "v1"}, {"0", "New"}};
    EXPECT_EQ(UserManaged{}.read(f.codec, m, R"({"0":"Old","1":"x","_v":"v0","id":"zz"})"), (json{{"name", "New"}, {"age", 33}}));
    EXPECT_EQ(UserManaged{}.read(f.codec, m, "not json"), (json{{"name", "New"}}));
    EXPECT_EQ(UserManaged{}.read(f.codec, m, "[1,2]"), (json{{"name", "New"}}));
}

// ---- enforce-limits ----

TEST(EnforceLimits, RecordOverTheLimitThrowsRecordTooLargeNamingResourceIdSizeAndLimit) {
    const Fixture& f = fixture();
    MappedRecord mapped = f.map(record("large"));
    std::size_t size = calculate_total_size(mapped);
    BehaviorContext ctx = f.context("rec2");
    try {
        EnforceLimits{}.write(std::move(mapped), ctx);
        FAIL() << "no exception";
    } catch (const RecordTooLarge& e) {
        EXPECT_EQ(e.resource(), "items");
        EXPECT_EQ(e.id(), "rec2");
        EXPECT_EQ(e.size(), size);
        EXPECT_EQ(e.limit(), ctx.effective_limit);
        EXPECT_EQ(e.limit(), 2047 - 4 - 6);  // `_v`+"v1", "id"+"rec2"
        std::string what = e.what();
        for (const std::string& part : {std::string("'items'"), std::string("'rec2'"), std::to_string(size), std::to_string(e.limit())})
            EXPECT_NE(what.find(part), std::string::npos) << what;
    }
}

TEST(EnforceLimits, AcceptsARecordOfExactlyTheLimitAndRefusesOneByteMore) {
    MappedRecord r = {{"_v", "v1"}, {"0", std::string(100, 'a')}};
    auto size = static_cast<std::int64_t>(calculate_total_size(r));
    EXPECT_NO_THROW(EnforceLimits{}.write(r, {"items", "x", size, WriteKind::insert, {}, {}}));
    EXPECT_THROW(EnforceLimits{}.write(r, {"items", "x", size - 1, WriteKind::insert, {}, {}}), RecordTooLarge);
}

TEST(EnforceLimits, RecordThatOnlyFitsByS3dbJsCountIsRefused) {
    MappedRecord r = {{"_v", "v1"}, {"0", std::string()}};
    for (int i = 0; i < 400; ++i) r[1].value += "ña";  // 1200 bytes for s3db.js, 2802 on the wire (`u:`)
    ASSERT_EQ(calculate_total_size(r), 4u + 1 + 1200);
    EXPECT_NO_THROW(EnforceLimits{}.write(r, {"items", "x", 2807, WriteKind::insert, {}, {}}));
    try {
        EnforceLimits{}.write(r, {"items", "x", 2019, WriteKind::insert, {}, {}});
        FAIL() << "no exception";
    } catch (const RecordTooLarge& e) {
        EXPECT_EQ(e.size(), 4u + 1 + 2802);
    }
}

TEST(EnforceLimits, UpdatesCarryTheMappedRecordInTheBodyWhichReadsIgnore) {
    const Fixture& f = fixture();
    StoredRecord out = EnforceLimits{}.write(f.map(record("small")), f.context("rec1", WriteKind::update));
    EXPECT_EQ(json::parse(out.body)["0"], "Ana");
    EXPECT_EQ(EnforceLimits{}.read(f.codec, out.metadata, R"({"0":"Other"})"), EnforceLimits{}.read(f.codec, out.metadata, ""));
    EXPECT_FALSE(EnforceLimits::reads_body);
}

// ---- truncate-data ----

namespace {

struct TruncateCheck {
    MappedRecord original;
    std::int64_t limit;
};

/// The properties every truncate-data result has; returns the metadata for further checks.
Metadata check_truncation(const MappedRecord& original, std::int64_t limit) {
    StoredRecord out = TruncateData{}.write(original, {"items", "x", limit, WriteKind::insert, {}, {}});
    EXPECT_EQ(out.body, "");
    bool over = detail::stored_total_size(original) > limit;
    EXPECT_EQ(out.metadata.count("_truncated") == 1, over);
    if (!over) {
        EXPECT_EQ(out.metadata, Codec::to_metadata(MappedRecord(original)));
        return out.metadata;
    }
    EXPECT_EQ(out.metadata.at("_truncated"), "true");
    std::size_t v_size = 0;
    std::map<std::string, const MappedField*> by_key;
    for (const auto& fld : original) {
        by_key[fld.key] = &fld;
        if (fld.key == "_v") v_size = fld.key.size() + fld.value.size();
    }
    if (static_cast<std::int64_t>(v_size) + 14 <= limit) {
        EXPECT_LE(static_cast<std::int64_t>(wire_size(out.metadata)), limit);
    }
    std::size_t cut = 0, max_whole = 0, min_left_out = SIZE_MAX;
    for (const auto& [k, v] : out.metadata) {
        if (k == "_truncated") continue;
        EXPECT_TRUE(valid_utf8(v)) << k;
        const MappedField* orig = by_key.at(k);
        EXPECT_EQ(orig->value.compare(0, v.size(), v), 0) << k << " is not a prefix of the original";
        if (v != orig->value) ++cut;
        else if (k != "_v") max_whole = std::max(max_whole, v.size());
    }
    EXPECT_LE(cut, 1u);
    for (const auto& fld : original)
        if (fld.key != "_v" && (!out.metadata.count(fld.key) || out.metadata.at(fld.key) != fld.value))
            min_left_out = std::min(min_left_out, fld.value.size());
    EXPECT_LE(max_whole, min_left_out) << "a larger field was kept while a smaller one was cut or dropped";
    if (!original.empty() && original.front().key == "_v") {
        EXPECT_EQ(out.metadata.at("_v"), original.front().value);
    }
    return out.metadata;
}

std::string random_text(std::mt19937& rng, std::size_t chars) {
    static const char* const pieces[] = {"a", "Z", "7", " ", "|", "é", "ß", "東", "京", "😀", "𝄞", "\\", "\""};
    std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
    std::string s;
    for (std::size_t i = 0; i < chars; ++i) s += pieces[pick(rng)];
    return s;
}

}  // namespace

TEST(TruncateData, KeepsSmallFieldsCutsTheNextOnACharacterBoundaryAndDropsTheRest) {
    // the record on which s3db.js never returns (it blanks "a" forever)
    MappedRecord r = {{"_v", "v1"}, {"a", "Ana"}, {"1", "x"}, {"2", std::string(3000, 'z')}};
    Metadata m = check_truncation(r, 2040);
    EXPECT_EQ(m.at("a"), "Ana");
    EXPECT_EQ(m.at("1"), "x");
    EXPECT_EQ(m.at("2"), std::string(2040 - 14 - 4 - 4 - 2 - 1, 'z'));  // every byte the limit leaves
    EXPECT_EQ(stored_size(m), 2040u);
}

TEST(TruncateData, NeverCutsInsideAUtf8Character) {
    for (std::size_t limit = 40; limit < 90; ++limit) {
        MappedRecord r = {{"_v", "v1"}, {"0", "😀😀😀😀😀😀😀😀😀😀😀😀"}};  // 48 bytes, 66 on the wire (base64)
        Metadata m = check_truncation(r, static_cast<std::int64_t>(limit));
        EXPECT_EQ(m.at("0").size() % 4, 0u);
        if (!m.count("_truncated")) continue;  // the limit leaves room for all of it
        // nothing wasted: one more character would not fit on the wire
        EXPECT_GT(wire_size(m) + detail::encoded_metadata_size(m.at("0") + "😀") - detail::encoded_metadata_size(m.at("0")),
                  limit);
    }
}

TEST(TruncateData, CutsNonAsciiTextToWhatTheStoreCounts) {
    // s3db.js counts raw UTF-8 bytes (§13.7): its cut leaves a `u:`-encoded value over 2 KB.
    std::string text = std::string(1000, 'a') + "ç" + std::string(1500, 'b');
    MappedRecord r = {{"_v", "v1"}, {"0", "small"}, {"1", text}};
    Metadata m = check_truncation(r, 2043);
    EXPECT_LE(wire_size(m), 2043u);
    EXPECT_EQ(m.at("1").substr(0, 1002), text.substr(0, 1002));
    EXPECT_GE(wire_size(m), 2043u - 2);  // all but a byte or two of what the encoding leaves
}

TEST(TruncateData, OneHugeFieldIsCutToFit) {
    std::string huge;
    for (int i = 0; i < 250000; ++i) huge += "é😀";  // 1.5 MB
    MappedRecord r = {{"_v", "v1"}, {"0", "small"}, {"1", huge}};
    Metadata m = check_truncation(r, 1953);
    EXPECT_EQ(m.at("0"), "small");
    EXPECT_GT(m.at("1").size(), 1350u);  // base64 on the wire: 3 bytes of text per 4
    EXPECT_GT(wire_size(m), 1953u - 8);
}

TEST(TruncateData, ManyTinyFieldsTerminateWithinTheLimit) {
    MappedRecord r = {{"_v", "v1"}};
    for (int i = 0; i < 5000; ++i) r.push_back({detail::b36_encode(static_cast<std::uint64_t>(i)), "x"});
    Metadata m = check_truncation(r, 2019);
    EXPECT_GT(m.size(), 300u);
}

TEST(TruncateData, ImpossibleLimitsStillTerminate) {
    MappedRecord r = {{"_v", "v1"}, {"0", "abc"}, {"1", "de"}};
    for (std::int64_t limit : {-100, 0, 5, 17, 18, 19, 20, 21, 22}) {
        SCOPED_TRACE(limit);
        check_truncation(r, limit);
    }
}

TEST(TruncateData, BooleansNullsAndNumbersAreOrderedAsS3dbJsCountsThemAndCutAsTheStoreDoes) {
    MappedRecord r = {{"_v", "v1"}, {"t", "true", MappedField::Kind::boolean}, {"n", "null", MappedField::Kind::null},
                      {"9", "123456789", MappedField::Kind::number}, {"8", std::string(100, 'q')}};
    // s3db.js's total: 4 + 2 ("t" counts 1) + 1 ("n" counts 0) + 10 + 101 = 118; the store
    // receives "true" and "null"
    ASSERT_EQ(calculate_total_size(r), 118u);
    StoredRecord out = TruncateData{}.write(r, {"items", "x", 33, WriteKind::insert, {}, {}});
    // budget 19: _v 4, n 5, t 5 (smallest by s3db.js's count first), then "9" cut to 19-14-1 = 4
    // digits; "8" dropped
    EXPECT_EQ(out.metadata, (Metadata{{"_v", "v1"}, {"n", "null"}, {"t", "true"}, {"9", "1234"}, {"_truncated", "true"}}));
}

TEST(TruncateData, RandomRecordsAlwaysFitAndStayValidUtf8) {
    std::mt19937 rng(20240607);
    for (int round = 0; round < 1500; ++round) {
        MappedRecord r;
        if (rng() % 8) r.push_back({"_v", "v" + std::to_string(rng() % 100)});
        std::set<std::string> keys;
        std::size_t n = rng() % 40;
        std::size_t max_len = 1 + rng() % 400;
        for (std::size_t i = 0; i < n; ++i) {
            std::string key = rng() % 2 ? detail::b36_encode(rng() % 2000) : "f" + std::to_string(rng() % 500);
            if (!keys.insert(key).second) continue;
            if (rng() % 10 == 0) r.push_back({key, std::to_string(rng() % 100000), MappedField::Kind::number});
            else r.push_back({key, random_text(rng, rng() % max_len)});
        }
        std::int64_t limit = static_cast<std::int64_t>(rng() % 2100) - 50;
        SCOPED_TRACE("round " + std::to_string(round));
        check_truncation(r, limit);
        if (HasFailure()) break;
    }
}

TEST(TruncateData, NeverCutsASecretDropsItWholeAndCutsTheNextFieldInstead) {
    const std::string sealed(96, 'Q');  // a secret's ciphertext: a prefix of it decrypts to nothing
    MappedRecord r = {{"_v", "v1"}, {"0", "Ana"}, {"1", sealed, MappedField::Kind::string, true}, {"2", std::string(300, 'z')}};
    // budget 100 - 14: _v 4, "0" 4, the secret (97) does not fit whole and goes; "2" takes the rest
    StoredRecord out = TruncateData{}.write(r, {"items", "x", 100, WriteKind::insert, {}, {}});
    EXPECT_FALSE(out.metadata.count("1")) << out.metadata.at("1");
    EXPECT_EQ(out.metadata.at("0"), "Ana");
    EXPECT_EQ(out.metadata.at("2"), std::string(100 - 14 - 4 - 4 - 1, 'z'));
    EXPECT_EQ(out.metadata.at("_truncated"), "true");
    EXPECT_TRUE(out.lossy);
    // A secret that fits is kept whole.
    out = TruncateData{}.write(r, {"items", "x", 200, WriteKind::insert, {}, {}});
    EXPECT_EQ(out.metadata.at("1"), sealed);
    EXPECT_EQ(out.metadata.at("2"), std::string(200 - 14 - 4 - 4 - 97 - 1, 'z'));
    EXPECT_TRUE(out.lossy);
    // A record that fits is not lossy.
    EXPECT_FALSE(TruncateData{}.write(r, {"items", "x", 2000, WriteKind::insert, {}, {}}).lossy);
}

TEST(TruncateData, ReadIgnoresTheFlag) {
    const Fixture& f = fixture();
    EXPECT_EQ(TruncateData{}.read(f.codec, {{"_v", "v1"}, {"0", "An"}, {"_truncated", "true"}}, ""), (json{{"name", "An"}}));
}

// ---- body-overflow ----

TEST(BodyOverflow, UnderTheLimitWritesNoFlagAndNoBody) {
    const Fixture& f = fixture();
    StoredRecord out = BodyOverflow{}.write(f.map(record("small")), f.context("rec1"));
    EXPECT_EQ(out.body, "");
    EXPECT_EQ(out.content_type, "");
    EXPECT_FALSE(out.metadata.count("_overflow"));
}

TEST(BodyOverflow, WithTheCodecANestedObjectGoesToTheBodyWhole) {
    // s3db.js returns only the metadata half of an object split between metadata and body
    const Fixture& f = fixture();
    json rec = record("split");
    rec.erase("meta");  // unknown nested objects come back flattened from metadata (`meta_k`), as in s3db.js
    StoredRecord out = BodyOverflow{}.write(f.map(rec), f.context("rec4"));
    EXPECT_FALSE(out.metadata.count("5"));  // profile.bio, small enough for metadata
    EXPECT_EQ(json::parse(out.body), (json{{"5", "short bio"}, {"6", rec["profile"]["city"]}}));
    EXPECT_EQ(out.metadata.at("0"), "Ana");
    EXPECT_EQ(BodyOverflow{}.read(f.codec, out.metadata, out.body), f.expected(rec));
}

TEST(BodyOverflow, NestedObjectSplitBetweenMetadataAndBodyIsReadWhole) {
    const Fixture& f = fixture();
    json rec = record("split");
    rec.erase("meta");  // unknown nested objects come back flattened from metadata (`meta_k`), as in s3db.js
    BehaviorContext ctx = f.context("rec4");
    ctx.codec = nullptr;
    StoredRecord out = BodyOverflow{}.write(f.map(rec), ctx);
    EXPECT_TRUE(out.metadata.count("5"));  // profile.bio
    EXPECT_TRUE(json::parse(out.body).contains("6"));  // profile.city
    EXPECT_EQ(BodyOverflow{}.read(f.codec, out.metadata, out.body), f.expected(rec));
}

TEST(BodyOverflow, PluginMapStaysInMetadataAndCountsAgainstTheLimit) {
    MappedRecord r = {{"_v", "v1"}, {"0", std::string(1000, 'a')}, {"1", std::string(990, 'b')}};
    std::string plugin_map = R"({"_score":"pabc"})";
    BehaviorContext ctx{"items", "x", 2019, WriteKind::insert, {}, plugin_map};
    StoredRecord out = BodyOverflow{}.write(r, ctx);
    EXPECT_EQ(out.metadata.at("_pluginmap"), plugin_map);
    EXPECT_EQ(out.metadata.at("_overflow"), "true");
    EXPECT_LE(static_cast<std::int64_t>(stored_size(out.metadata)), ctx.effective_limit);
    EXPECT_EQ(json::parse(out.body), (json{{"0", std::string(1000, 'a')}}));
}

TEST(BodyOverflow, RandomRecordsNeverOverfillMetadataAndReadBackWhole) {
    const Fixture& f = fixture();
    std::mt19937 rng(7);
    for (int round = 0; round < 300; ++round) {
        json rec = {{"id", "k"}, {"name", random_text(rng, rng() % 300)}, {"age", static_cast<int>(rng() % 1000)},
                    {"score", 0.5}, {"active", rng() % 2 == 0}, {"tags", {random_text(rng, 1 + rng() % 50)}},
                    {"profile", {{"bio", random_text(rng, rng() % 400)}, {"city", random_text(rng, rng() % 400)}}}};
        for (std::size_t i = 0, n = rng() % 30; i < n; ++i) rec["x" + std::to_string(i)] = random_text(rng, rng() % 120);
        SCOPED_TRACE("round " + std::to_string(round));
        BehaviorContext ctx = f.context("k");
        StoredRecord out = BodyOverflow{}.write(f.map(rec), ctx);
        EXPECT_LE(static_cast<std::int64_t>(wire_size(out.metadata)), ctx.effective_limit);
        EXPECT_EQ(out.metadata.count("_overflow") == 1, !out.body.empty());
        EXPECT_EQ(BodyOverflow{}.read(f.codec, out.metadata, out.body), f.expected(rec));
        if (HasFailure()) break;
    }
}

// ---- body-only ----

TEST(BodyOnly, MetadataHoldsOnlyTheVersionAndTheMap) {
    const Fixture& f = fixture();
    StoredRecord out = BodyOnly{}.write(f.map(record("small")), f.context("rec1"));
    EXPECT_EQ(out.metadata, (Metadata{{"_v", "v1"}, {"_map", f.map_json}}));
    EXPECT_EQ(out.content_type, "application/json");
}

TEST(BodyOnly, WritingWithoutTheMapIsAConfigError) {
    const Fixture& f = fixture();
    BehaviorContext ctx = f.context("rec1");
    ctx.map_json = {};
    try {
        BodyOnly{}.write(f.map(record("small")), ctx);
        FAIL() << "no exception";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'items'"), std::string::npos);
    }
}

TEST(BodyOnly, KeysOfAttributesRemovedSinceComeBackUnderTheirOldNames) {
    const Fixture& f = fixture();
    Metadata m = {{"_v", "v1"}, {"_map", R"({"name":"0","old":"9","gone.deep":"a"})"}};
    EXPECT_EQ(BodyOnly{}.read(f.codec, m, R"({"0":"Ana","9":"[1,2]","a":"x","_v":"v1","_etag":"e"})"),
              (json{{"name", "Ana"}, {"old", {1, 2}}, {"gone", {{"deep", "x"}}}}));
}

TEST(BodyOnly, BodyWithoutUserFieldsFallsBackToMetadata) {
    const Fixture& f = fixture();
    EXPECT_EQ(BodyOnly{}.read(f.codec, {{"_v", "v1"}, {"0", "Ana"}}, R"({"_v":"v1"})"), (json{{"name", "Ana"}}));
}

TEST(BodyOnly, PluginAttributesAreReadThroughThePluginMapAndKept) {
    const Fixture& f = fixture();
    Metadata m = {{"_v", "v1"}, {"_map", f.map_json}, {"_pluginmap", R"({"_tenant":"pabc"})"}};
    EXPECT_EQ(BodyOnly{}.read(f.codec, m, R"({"0":"Ana","pabc":"t1"})"), (json{{"name", "Ana"}, {"_tenant", "t1"}}));
}

// ---- selection at run time ----

TEST(AnyBehavior, EveryS3dbJsNameSelectsItsBehavior) {
    for (std::string_view n : {"user-managed", "enforce-limits", "truncate-data", "body-overflow", "body-only"})
        EXPECT_EQ(behavior_name(behavior_from_name(n)), n);
    EXPECT_TRUE(std::holds_alternative<BodyOverflow>(behavior_from_name("body-overflow")));
    EXPECT_FALSE(behavior_reads_body(behavior_from_name("truncate-data")));
    EXPECT_TRUE(behavior_reads_body(behavior_from_name("body-only")));
}

TEST(AnyBehavior, UnknownNameIsAConfigErrorNamingIt) {
    try {
        behavior_from_name("body-overflown");
        FAIL() << "no exception";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'body-overflown'"), std::string::npos) << e.what();
    }
}
