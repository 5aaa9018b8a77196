// dkim_interop_test.cpp: our DKIM against dkimpy, an independent implementation (Debian
// python3-dkim, driven by dkimpy_tool.py): dkimpy signs in every canonicalization pair, with
// rsa-sha256 and ed25519-sha256, with and without l=, and our Verifier must pass those signatures
// (and fail them once the message is changed); dkimpy verifies what our sign() produced.
// dkimpy missing is a failure, not a skip: the comparison is the point of this test.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "../temp_dir.hpp"
#include "trust/dkim_canon.hpp"
#include "trust/dkim_sign.hpp"
#include "trust/dkim_verify.hpp"

#ifndef SLUICE_DKIMPY_TOOL
#error "SLUICE_DKIMPY_TOOL (the path of dkimpy_tool.py) must be defined by the build"
#endif

using namespace sluice::trust::dkim;
namespace fs = std::filesystem;

namespace {

// The system Python: python3-dkim is installed for it, not for whatever python3 is first on PATH.
constexpr const char* kPython = "/usr/bin/python3";

const std::map<std::string, std::string> kMessages = {
    {"plain",
     "From: Joe <joe@example.com>\r\n"
     "To: Suzie <suzie@example.net>\r\n"
     "Subject: Is dinner ready?\r\n"
     "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
     "Message-ID: <1@example.com>\r\n"
     "\r\n"
     "Hi.  \r\n"
     "\r\n"
     "We lost the game.\t Are you hungry yet?\r\n"
     "\r\n"
     "\r\n"},
    {"folded",
     "Received: from a.example.com by b.example.com; Fri, 11 Jul 2003 21:01:54 -0700\r\n"
     "Received: from c.example.com by a.example.com; Fri, 11 Jul 2003 21:01:50 -0700\r\n"
     "From: \"Joe  Six-Pack\" <joe@example.com>\r\n"
     "To: Suzie <suzie@example.net>,\r\n"
     "\tBob <bob@example.net>\r\n"
     "Cc: team@example.net\r\n"
     "Subject:   Is dinner\r\n"
     "   \t ready?   \r\n"
     "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "\r\n"
     "  Leading spaces, \ttabs\t\tinside   and trailing \t \r\n"
     "A line of dinner " +
         std::string(200, 'x') +
         "\r\n"
         " \r\n"
         "\t\r\n"
         "last line"},
    {"empty",
     "From: Joe <joe@example.com>\r\n"
     "To: Suzie <suzie@example.net>\r\n"
     "Subject: dinner, no body\r\n"
     "\r\n"},
};

struct ToolRun {
    int status;
    std::string output;
};

ToolRun run_tool(const std::string& args) {
    std::string cmd = std::string(kPython) + " '" + SLUICE_DKIMPY_TOOL + "' " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return {-1, "popen failed"};
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int st = ::pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, std::string_view data) {
    std::ofstream(p, std::ios::binary) << data;
}

// Header section (with the empty line) and body of a message.
std::pair<std::string, std::string> split(const std::string& message) {
    std::size_t end = message.find("\r\n\r\n");
    if (end == std::string::npos) return {message, ""};
    return {message.substr(0, end + 4), message.substr(end + 4)};
}

std::string body_hash(std::string_view body) {
    BodyHasher b(Canon::relaxed, Hash::sha256);
    b.update(body);
    return b.finish();
}

class DkimInterop : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        ToolRun check = run_tool("check");
        ok_ = check.status == 0;
        why_ = "dkimpy cannot be used with " + std::string(kPython) + " (exit " +
               std::to_string(check.status) + "): " + check.output +
               "install it with: scripts/setup.sh test";
        rsa_ = generate_key(Algorithm::rsa_sha256);
        ed_ = generate_key(Algorithm::ed25519_sha256);
    }
    void SetUp() override { ASSERT_TRUE(ok_) << why_; }

    std::vector<SignatureResult> verify(const std::string& message) const {
        auto [fields, body] = split(message);
        Verifier v(fields, {5, static_cast<std::int64_t>(std::time(nullptr))});
        // Chunks of 3: CRLFs and WSP runs are cut apart somewhere.
        for (std::size_t pos = 0; pos < body.size(); pos += 3)
            v.body(std::string_view(body).substr(pos, 3));
        v.finish_body();
        for (std::size_t i = 0; i < v.key_queries().size(); ++i) {
            const std::string& name = v.key_queries()[i].name;
            std::string record = name == "rsa._domainkey.example.com"  ? rsa_.dns_txt
                                 : name == "ed._domainkey.example.com" ? ed_.dns_txt
                                                                       : "";
            v.key_answer(i, {record.empty() ? Verifier::KeyAnswer::Status::nxdomain
                                            : Verifier::KeyAnswer::Status::ok,
                             {record}});
        }
        return v.results();
    }

    static bool ok_;
    static std::string why_;
    static GeneratedKey rsa_, ed_;
    sluice::test::TempDir dir_{"dkim-interop"};
};
bool DkimInterop::ok_ = false;
std::string DkimInterop::why_;
GeneratedKey DkimInterop::rsa_, DkimInterop::ed_;

}  // namespace

TEST_F(DkimInterop, WeVerifyWhatDkimpySigned) {
    write_file(dir_.path() / "rsa.pem", rsa_.private_pem);
    write_file(dir_.path() / "ed25519.pem", ed_.private_pem);
    for (const auto& [name, text] : kMessages)
        write_file(dir_.path() / ("msg-" + name + ".eml"), text);
    ToolRun signer = run_tool("sign '" + dir_.path().string() + "'");
    ASSERT_EQ(signer.status, 0) << signer.output;

    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir_.path() / "signed")) {
        const std::string file = entry.path().filename().string();
        SCOPED_TRACE(file);
        ++files;
        const std::string message = read_file(entry.path());
        const bool sha1 = file.find(".rsa-sha1.") != std::string::npos;
        const bool with_l = file.ends_with(".l.eml");
        const bool empty_simple_body =
            file.starts_with("msg-empty.") && file.find("-simple") != std::string::npos;

        auto r = verify(message);
        ASSERT_EQ(r.size(), 1u);
        EXPECT_EQ(r[0].domain, "example.com");
        if (sha1) {
            EXPECT_EQ(r[0].result, Result::permerror);
            EXPECT_EQ(r[0].reason, "rsa-sha1 not accepted (RFC 8301)");
            continue;
        }
        EXPECT_EQ(r[0].result, Result::pass) << r[0].reason << "\n" << message;
        EXPECT_FALSE(r[0].body_truncated);

        // A changed signed header field.
        std::string forged = message;
        forged.replace(forged.find("dinner"), 6, "supper");
        r = verify(forged);
        EXPECT_EQ(r[0].result, Result::fail);
        EXPECT_EQ(r[0].reason, "signature did not verify");

        // More body: l= leaves the tail unsigned (unless the signed prefix itself changes: the
        // empty body's simple form is a CRLF that the new text replaces). A last line without
        // CRLF was signed with one added, so the tail starts on a line of its own.
        r = verify(message + (message.ends_with("\r\n") ? "" : "\r\n") + "Unsigned tail\r\n");
        if (with_l && !empty_simple_body) {
            EXPECT_EQ(r[0].result, Result::pass) << r[0].reason;
            EXPECT_TRUE(r[0].body_truncated);
        } else {
            EXPECT_EQ(r[0].result, Result::fail);
            EXPECT_EQ(r[0].reason, "body hash mismatch");
        }
    }
    EXPECT_EQ(files, static_cast<int>(kMessages.size()) * (2 * 4 * 2 + 1));
}

TEST_F(DkimInterop, DkimpyVerifiesWhatWeSigned) {
    std::ostringstream dns;
    dns << "rsa._domainkey.example.com\t" << rsa_.dns_txt << "\n"
        << "ed._domainkey.example.com\t" << ed_.dns_txt << "\n";
    write_file(dir_.path() / "dns.txt", dns.str());
    std::map<std::string, std::string> expected;
    for (const auto& [pem, selector] :
         {std::pair{rsa_.private_pem, "rsa"}, std::pair{ed_.private_pem, "ed"}}) {
        write_file(dir_.path() / (std::string(selector) + ".pem"), pem);
        std::string error;
        auto key = load_signing_key(dir_.path() / (std::string(selector) + ".pem"), "example.com",
                                    selector, &error);
        ASSERT_TRUE(key) << error;
        for (const auto& [name, text] : kMessages) {
            auto [fields, body] = split(text);
            SignOptions o;
            o.timestamp = static_cast<std::int64_t>(std::time(nullptr));
            o.expire_after = 3600;
            std::string signed_message = sign(*key, fields, body_hash(body), o) + text;
            std::string stem = "ours-" + name + "-" + selector;
            write_file(dir_.path() / (stem + ".eml"), signed_message);
            expected[stem + ".eml"] = "pass";
            std::string tampered = signed_message;
            tampered.replace(tampered.find("dinner"), 6, "supper");
            write_file(dir_.path() / (stem + "-header.eml"), tampered);
            expected[stem + "-header.eml"] = "fail";
            write_file(dir_.path() / (stem + "-body.eml"), signed_message + "more\r\n");
            expected[stem + "-body.eml"] = "fail";
        }
    }
    ToolRun verifier = run_tool("verify '" + dir_.path().string() + "'");
    ASSERT_EQ(verifier.status, 0) << verifier.output;
    std::map<std::string, std::string> got;
    std::istringstream lines(verifier.output);
    for (std::string file, result; lines >> file >> result;) got[file] = result;
    EXPECT_EQ(got, expected) << verifier.output;
}
