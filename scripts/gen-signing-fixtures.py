#!/usr/bin/env python3
"""Regenerates tests/fixtures/signing/: interop fixtures for src/auth (signed URLs and cookies).

Needs `botocore` and `cryptography` (a throwaway venv is fine):

    python3 -m venv /tmp/v && /tmp/v/bin/pip install botocore cryptography
    /tmp/v/bin/python scripts/gen-signing-fixtures.py [--js NODE_MODULES_DIR]

RSA-SHA1 URLs (canned and custom) come from botocore's CloudFrontSigner with the demo key
(keys/demo-private.pem). SHA-256, ECDSA P-256 and cookies are signed with `cryptography`
following the CloudFront rules (signed-urls.md). With --js pointing at a node_modules directory
that holds @aws-sdk/cloudfront-signer, js-cases.json is regenerated from that signer too.

Each case: a request (url, cookies, viewer ip, time, trusted key ids) and the expected outcome
("ok" or a CloudFront error code). ECDSA signatures are randomised, so regenerating changes the
files; the expectations do not change.
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import tempfile

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "signing")

RSA_ID = "KRSADEMO2JCJMD"
EC_ID = "KECP256EXAMPLE"
OTHER_ID = "KOTHERGROUPKEY"  # loaded in the key ring but not trusted by the behavior
TRUSTED = [RSA_ID, EC_ID]
HOST = "d111111abcdef8.cloudfront.net"
T_END = 1893456000  # 2030-01-01T00:00:00Z
T_START = 1893448800  # T_END - 2h
NOW = T_END - 3600
IP = "192.0.2.77"


def cf_b64(data: bytes) -> str:
    return base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")


def load_or_make(path, make):
    if os.path.exists(path):
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), None)
    key = make()
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return key


def write_public(key, name):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


with open(os.path.join(ROOT, "keys", "demo-private.pem"), "rb") as f:
    RSA_KEY = serialization.load_pem_private_key(f.read(), None)
os.makedirs(OUT, exist_ok=True)
# Test-only keys, committed so the fixtures can be regenerated; never trust them anywhere.
EC_KEY = load_or_make(os.path.join(OUT, "ec-private.pem"), lambda: ec.generate_private_key(ec.SECP256R1()))
OTHER_KEY = load_or_make(
    os.path.join(OUT, "other-rsa-private.pem"),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
)
write_public(RSA_KEY, "rsa-public.pem")
write_public(EC_KEY, "ec-public.pem")
write_public(OTHER_KEY, "other-rsa-public.pem")
write_public(rsa.generate_private_key(public_exponent=65537, key_size=1024), "rsa1024-public.pem")
write_public(ec.generate_private_key(ec.SECP384R1()), "p384-public.pem")


def sign(key, msg: bytes, alg="SHA1", p1363=False) -> bytes:
    h = hashes.SHA1() if alg == "SHA1" else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(msg, padding.PKCS1v15(), h)
    der = key.sign(msg, ec.ECDSA(h))
    if p1363:
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return der


def canned(resource: str, expires: int) -> bytes:
    return (
        '{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}'
        % (resource, expires)
    ).encode()


def custom(resource=None, less=T_END, greater=None, ip=None, compact=True) -> bytes:
    cond = {"DateLessThan": {"AWS:EpochTime": less}}
    if greater is not None:
        cond["DateGreaterThan"] = {"AWS:EpochTime": greater}
    if ip is not None:
        cond["IpAddress"] = {"AWS:SourceIp": ip}
    st = {"Condition": cond}
    if resource is not None:
        st = {"Resource": resource, "Condition": cond}
    doc = {"Statement": [st]}
    if compact:
        return json.dumps(doc, separators=(",", ":")).encode()
    return json.dumps(doc, indent=2).replace("\n", "\r\n").encode() + b"\r\n"


def append(url, params):
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join("%s=%s" % kv for kv in params)


CASES = []


def case(name, url, expect, cookies=(), ip=IP, now=NOW, trusted=TRUSTED, **extra):
    c = {"name": name, "url": url, "cookies": list(cookies), "ip": ip, "now": now,
         "trusted": list(trusted), "expect": expect}
    c.update(extra)
    CASES.append(c)


def rsa_signer(msg):
    return RSA_KEY.sign(msg, padding.PKCS1v15(), hashes.SHA1())


boto = CloudFrontSigner(RSA_ID, rsa_signer)
UTC = datetime.timezone.utc
END_DT = datetime.datetime.fromtimestamp(T_END, UTC)

# ---- botocore, RSA-SHA1 ------------------------------------------------------------------
base = "https://%s/images/horizon.jpg?size=large&license=yes" % HOST
u = boto.generate_presigned_url(base, date_less_than=END_DT)
case("boto canned with query", u, "ok", strip=True, expires_at=T_END)
case("boto canned, one second before expiry", u, "ok", now=T_END - 1)
case("boto canned at DateLessThan", u, "AccessDenied", now=T_END)
case("boto canned after expiry", u, "AccessDenied", now=T_END + 10)
case("boto canned, IPv6 viewer (no IP condition)", u, "ok", ip="2001:db8::1")
case("boto canned, http instead of https", u.replace("https://", "http://"), "AccessDenied")
case("boto canned, other host", u.replace(HOST, "cdn.example.com"), "AccessDenied")
case("boto canned, tampered path", u.replace("horizon", "horizoN"), "AccessDenied")
case("boto canned, query value changed", u.replace("size=large", "size=small"), "AccessDenied")
case("boto canned, query added after signing", u + "&extra=1", "AccessDenied")
case("boto canned, query reordered", u.replace("size=large&license=yes", "license=yes&size=large"), "AccessDenied")
case("boto canned, Expires changed", u.replace("Expires=%d" % T_END, "Expires=%d" % (T_END + 1)), "AccessDenied")
case("boto canned, Expires with leading zero", u.replace("Expires=%d" % T_END, "Expires=0%d" % T_END), "AccessDenied")
case("boto canned, Expires not a number", u.replace("Expires=%d" % T_END, "Expires=soon"), "MalformedPolicy")
case("boto canned, unknown key", u.replace(RSA_ID, "KUNKNOWNKEY123"), "InvalidKey")
case("boto canned, key of another group", u.replace(RSA_ID, OTHER_ID), "InvalidKey")
case("boto canned, behavior trusts only the EC key", u, "InvalidKey", trusted=[EC_ID])
case("boto canned, empty Key-Pair-Id", u.replace("Key-Pair-Id=" + RSA_ID, "Key-Pair-Id="), "MissingKey")
case("boto canned, no Key-Pair-Id", u.replace("&Key-Pair-Id=" + RSA_ID, ""), "MissingKey")
case("boto canned, PEM pasted as Key-Pair-Id", u.replace(RSA_ID, "-----BEGIN%20PUBLIC%20KEY-----MIIB"), "MissingKey")
case("boto canned, duplicate Key-Pair-Id", u + "&Key-Pair-Id=" + RSA_ID, "MalformedPolicy")
sig = u.split("Signature=")[1].split("&")[0]
case("boto canned, duplicate Signature", u + "&Signature=" + sig, "MalformedPolicy")
case("boto canned, signature in base64url", u.replace(sig, sig.replace("~", "_").replace("_", "x", 1) if "~" in sig else sig[:10] + "_" + sig[11:]), "MalformedSignature")
case("boto canned, signature in standard base64", u.replace(sig, sig.replace("-", "+").replace("~", "/").replace("_", "=")) if ("-" in sig or "~" in sig) else u.replace(sig, "+" + sig[1:]), "MalformedSignature")
case("boto canned, non-ASCII signature", u.replace(sig, "%C3%BC" + sig[2:]), "MalformedSignature")
case("boto canned, signature flipped", u.replace(sig, ("B" if sig[0] == "A" else "A") + sig[1:]), "AccessDenied")
case("boto canned, signature truncated", u.replace(sig, sig[:40]), "AccessDenied")
case("boto canned, empty signature", u.replace("Signature=" + sig, "Signature="), "AccessDenied")
case("boto canned, no signature", u.replace("&Signature=" + sig, ""), "AccessDenied")
case("boto canned, Hash-Algorithm=SHA1 added", u + "&Hash-Algorithm=SHA1", "ok")
case("boto canned, Hash-Algorithm=SHA256 on a SHA-1 signature", u + "&Hash-Algorithm=SHA256", "AccessDenied")
case("boto canned, Hash-Algorithm lower case", u + "&Hash-Algorithm=sha1", "AccessDenied")
case("boto canned, Hash-Algorithm unknown", u + "&Hash-Algorithm=SHA512", "AccessDenied")
# Parameter order: signing parameters first, application parameters after.
signing_part = u.split("?", 1)[1].split("&", 2)[2]
case("boto canned, parameters moved in front", "https://%s/images/horizon.jpg?%s&size=large&license=yes" % (HOST, signing_part), "ok")

u = boto.generate_presigned_url("https://%s/index.html" % HOST, date_less_than=END_DT)
case("boto canned without query", u, "ok")
case("boto canned without query, but a valid cookie set for another URL is ignored", u.replace("Key-Pair-Id=" + RSA_ID, "Key-Pair-Id="), "MissingKey",
     cookies=["CloudFront-Key-Pair-Id=%s" % RSA_ID])
case("boto canned, port in Host", u.replace(HOST, HOST + ":8443"), "AccessDenied")
case("boto canned, default port in Host", u.replace(HOST, HOST + ":443"), "ok")
pu = boto.generate_presigned_url("http://%s:8080/index.html" % HOST, date_less_than=END_DT)
case("boto canned signed with a non-default port", pu, "ok")

# botocore custom policies.
pol = boto.build_policy("https://%s/videos/*" % HOST, END_DT,
                        date_greater_than=datetime.datetime.fromtimestamp(T_START, UTC),
                        ip_address="192.0.2.0/24")
u = boto.generate_presigned_url("https://%s/videos/a/b.mp4?quality=hd" % HOST, policy=pol)
case("boto custom, wildcard, window, IP range", u, "ok", strip=True, expires_at=T_END)
for path in ["/videos/x.ts?", "/videos/deep/er/x.ts?any=thing&", "/videos/?"]:
    case("boto custom, same policy on " + path.rstrip("?&"), u.replace("/videos/a/b.mp4?quality=hd&", path), "ok")
case("boto custom, outside the wildcard", u.replace("/videos/a/b.mp4", "/images/a/b.mp4"), "AccessDenied")
case("boto custom, other host", u.replace(HOST, "d222222abcdef8.cloudfront.net"), "AccessDenied")
case("boto custom, viewer outside the range", u, "AccessDenied", ip="192.0.3.1")
case("boto custom, IPv6 viewer", u, "AccessDenied", ip="2001:db8::77")
case("boto custom, IPv4-mapped viewer", u, "ok", ip="::ffff:192.0.2.200")
case("boto custom, at DateGreaterThan", u, "AccessDenied", now=T_START)
case("boto custom, just after DateGreaterThan", u, "ok", now=T_START + 1)
case("boto custom, before DateGreaterThan", u, "AccessDenied", now=T_START - 100)
case("boto custom, at DateLessThan", u, "AccessDenied", now=T_END)
case("boto custom, Expires added (Policy wins)", u + "&Expires=1", "ok")
psig = u.split("Signature=")[1].split("&")[0]
pol_b64 = u.split("Policy=")[1].split("&")[0]
case("boto custom, policy tampered", u.replace(pol_b64, cf_b64(custom("*"))), "AccessDenied")
case("boto custom, policy not base64", u.replace(pol_b64, "!!!" + pol_b64), "MalformedPolicy")
case("boto custom, policy base64url", u.replace(pol_b64, pol_b64.replace("_", "")[:-1] + "_a"), "MalformedPolicy")
case("boto custom, no signature", u.replace("&Signature=" + psig, ""), "AccessDenied")
case("boto custom, unknown key", u.replace(RSA_ID, "KNOPE"), "InvalidKey")

pol = boto.build_policy("https://%s/single.txt" % HOST, END_DT, ip_address="192.0.2.77")
u = boto.generate_presigned_url("https://%s/single.txt" % HOST, policy=pol)
case("boto custom, single IP (boto adds /32)", u, "ok")
case("boto custom, single IP, other viewer", u, "AccessDenied", ip="192.0.2.78")
case("boto custom, resource has no query but request does", u.replace("/single.txt?", "/single.txt?x=1&"), "AccessDenied")


# ---- cryptography: SHA-256, ECDSA, odd policies, cookies -----------------------------------
def url_canned(key, key_id, url, alg=None, expires=T_END, p1363=False, sign_alg=None):
    s = sign(key, canned(url, expires), sign_alg or alg or "SHA1", p1363)
    params = [("Expires", expires), ("Signature", cf_b64(s)), ("Key-Pair-Id", key_id)]
    if alg:
        params.append(("Hash-Algorithm", alg))
    return append(url, params)


def url_custom(key, key_id, url, policy: bytes, alg=None, sign_alg=None):
    s = sign(key, policy, sign_alg or alg or "SHA1")
    params = [("Policy", cf_b64(policy)), ("Signature", cf_b64(s)), ("Key-Pair-Id", key_id)]
    if alg:
        params.append(("Hash-Algorithm", alg))
    return append(url, params)


page = "https://%s/docs/report.pdf?v=2" % HOST
case("RSA-SHA256 canned", url_canned(RSA_KEY, RSA_ID, page, "SHA256"), "ok")
case("RSA-SHA256 canned without Hash-Algorithm", url_canned(RSA_KEY, RSA_ID, page, None, sign_alg="SHA256"), "AccessDenied")
case("RSA-SHA1 signature labelled SHA256", url_canned(RSA_KEY, RSA_ID, page, "SHA256", sign_alg="SHA1"), "AccessDenied")
case("EC-SHA1 canned (the default hash)", url_canned(EC_KEY, EC_ID, page), "ok")
case("EC-SHA1 canned, explicit SHA1", url_canned(EC_KEY, EC_ID, page, "SHA1"), "ok")
case("EC-SHA256 canned", url_canned(EC_KEY, EC_ID, page, "SHA256"), "ok")
case("EC-SHA256 canned, tampered query", url_canned(EC_KEY, EC_ID, page, "SHA256").replace("v=2", "v=3"), "AccessDenied")
case("EC-SHA256 canned, P1363 signature", url_canned(EC_KEY, EC_ID, page, "SHA256", p1363=True), "AccessDenied")
case("EC signature presented under the RSA key id", url_canned(EC_KEY, RSA_ID, page), "AccessDenied")
case("signature by another RSA key under the demo id", url_canned(OTHER_KEY, RSA_ID, page), "AccessDenied")
case("other key's own id is not trusted", url_canned(OTHER_KEY, OTHER_ID, page), "InvalidKey")
case("64-bit Expires", url_canned(RSA_KEY, RSA_ID, page, expires=9223372036854775807), "ok")
case("Expires over 64 bits", url_canned(RSA_KEY, RSA_ID, page).replace("Expires=%d" % T_END, "Expires=99999999999999999999"), "MalformedPolicy")
raw = "https://%s/a%%20b/%%C3%%BC.jpg?x=1%%202&y=a+b&z=%%2F&w=~'()*!" % HOST
case("canned, raw percent-encoded path and query", url_canned(RSA_KEY, RSA_ID, raw), "ok")
case("canned, raw URL decoded by a proxy", url_canned(RSA_KEY, RSA_ID, raw).replace("a%20b", "a b"), "AccessDenied")
ec_custom = url_custom(EC_KEY, EC_ID, "https://%s/live/seg-001.ts" % HOST,
                       custom("https://%s/live/seg-*.ts" % HOST, greater=T_START, ip="192.0.2.0/24"), "SHA256")
case("EC-SHA256 custom", ec_custom, "ok")
case("EC-SHA256 custom, other segment", ec_custom.replace("seg-001", "seg-002"), "ok")
case("EC-SHA256 custom, outside the path section", ec_custom.replace("/live/seg-001.ts", "/live/seg-001.ts/x.ts"), "ok")
case("EC-SHA256 custom, wrong extension", ec_custom.replace("seg-001.ts", "seg-001.mp4"), "AccessDenied")
case("EC-SHA256 custom, query not allowed", ec_custom.replace("seg-001.ts?", "seg-001.ts?q=1&"), "AccessDenied")
case("custom, pretty-printed with CRLF", url_custom(RSA_KEY, RSA_ID, page, custom(page, compact=False)), "ok")
bare = ('{"Statement":{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}}' % (page, T_END)).encode()
case("custom, Statement as a bare object", url_custom(RSA_KEY, RSA_ID, page, bare), "ok")
case("custom, no Resource", url_custom(RSA_KEY, RSA_ID, "http://other.example/anything?x=1", custom(None)), "ok")
case("custom, Resource *", url_custom(RSA_KEY, RSA_ID, "http://other.example/anything?x=1", custom("*")), "ok")
case("custom, old-style \\? separator", url_custom(RSA_KEY, RSA_ID, page, custom("https://%s/docs/report.pdf\\?v=*" % HOST)), "ok")
case("custom, domain wildcard", url_custom(RSA_KEY, RSA_ID, page, custom("https://*.cloudfront.net/docs/*")), "ok")
case("custom, resource mismatch", url_custom(RSA_KEY, RSA_ID, page, custom("https://%s/other/*" % HOST)), "AccessDenied")
case("custom, expired", url_custom(RSA_KEY, RSA_ID, page, custom(page, less=NOW - 1)), "AccessDenied")
case("custom, no DateLessThan", url_custom(RSA_KEY, RSA_ID, page,
     ('{"Statement":[{"Resource":"%s","Condition":{"DateGreaterThan":{"AWS:EpochTime":1}}}]}' % page).encode()), "MalformedPolicy")
case("custom, quoted epoch", url_custom(RSA_KEY, RSA_ID, page,
     ('{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":"%d"}}}]}' % (page, T_END)).encode()), "MalformedPolicy")
case("custom, bad JSON", url_custom(RSA_KEY, RSA_ID, page, b'{"Statement":[{"Resource":'), "MalformedPolicy")
case("custom, not UTF-8", url_custom(RSA_KEY, RSA_ID, page, b'{"Statement":"\xff"}'), "MalformedPolicy")
two = json.dumps({"Statement": [json.loads(custom(page))["Statement"][0]] * 2}, separators=(",", ":")).encode()
case("custom, two statements", url_custom(RSA_KEY, RSA_ID, page, two), "MalformedPolicy")
pad = custom(page)[:-2] + b',"Resource":"' + b"x" * 9000 + b'"}]}'
case("custom, over 8 KiB", url_custom(RSA_KEY, RSA_ID, page, pad), "MalformedPolicy")
deep = b'{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":%d}},"Resource":' % T_END + b"[" * 200 + b"]" * 200 + b"}]}"
case("custom, deeply nested", url_custom(RSA_KEY, RSA_ID, page, deep), "MalformedPolicy")
case("custom, IPv6 range", url_custom(RSA_KEY, RSA_ID, page, custom(page, ip="2001:db8::/32")), "MalformedPolicy")
case("custom, unknown condition", url_custom(RSA_KEY, RSA_ID, page,
     custom(page)[:-4] + b',"IpAdress":{"AWS:SourceIp":"10.0.0.0/8"}}}]}'), "MalformedPolicy")
java = ('{"Statement": [{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}' % (page, T_END)).encode()
case("custom, Java SDK spacing", url_custom(RSA_KEY, RSA_ID, page, java), "ok")
page2 = "https://%s/docs/report.pdf?v=2&w=1" % HOST
esc = custom(page2).replace(b"&", b"\\u0026")
case("custom, JSON-escaped & in Resource", url_custom(RSA_KEY, RSA_ID, page2, esc), "ok")
go_old = canned(page2, T_END).replace(b"&", b"\\u0026")
case("canned signed over a JSON-escaped & (old Go SDK bug)",
     append(page2, [("Expires", T_END), ("Signature", cf_b64(sign(RSA_KEY, go_old))), ("Key-Pair-Id", RSA_ID)]), "AccessDenied")
dup = ('{"Statement":[],"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}' % T_END).encode()
case("custom, Statement twice", url_custom(RSA_KEY, RSA_ID, page, dup), "MalformedPolicy")
case("no Expires nor Policy", append(page, [("Signature", "AAAA"), ("Key-Pair-Id", RSA_ID)]), "MalformedPolicy")
case("no credentials at all", page, "MissingKey")
case("only Hash-Algorithm: URL mode, cookies ignored", page + "&Hash-Algorithm=SHA1", "MissingKey",
     cookies=["CloudFront-Key-Pair-Id=%s" % RSA_ID])


# Cookies.
def cookies_canned(key, key_id, url, alg=None):
    s = sign(key, canned(url, T_END), alg or "SHA1")
    c = ["CloudFront-Expires=%d" % T_END, "CloudFront-Signature=" + cf_b64(s), "CloudFront-Key-Pair-Id=" + key_id]
    if alg:
        c.append("CloudFront-Hash-Algorithm=" + alg)
    return c


def cookies_custom(key, key_id, policy, alg=None):
    s = sign(key, policy, alg or "SHA1")
    c = ["CloudFront-Policy=" + cf_b64(policy), "CloudFront-Signature=" + cf_b64(s), "CloudFront-Key-Pair-Id=" + key_id]
    if alg:
        c.append("CloudFront-Hash-Algorithm=" + alg)
    return c


cc = cookies_canned(RSA_KEY, RSA_ID, page)
case("cookies canned RSA-SHA1, one header", page, "ok", cookies=["session=abc; " + "; ".join(cc)], strip=False)
case("cookies canned RSA-SHA1, one header per cookie", page, "ok", cookies=cc)
case("cookies canned for another URL", page.replace("v=2", "v=3"), "AccessDenied", cookies=["; ".join(cc)])
case("cookies canned, missing key id", page, "MissingKey", cookies=["; ".join(cc[:2])])
case("cookies canned, unknown key", page, "InvalidKey", cookies=["; ".join(cc[:2] + ["CloudFront-Key-Pair-Id=KZZZ"])])
case("cookies canned, bad signature alphabet", page, "MalformedSignature",
     cookies=["; ".join([cc[0], "CloudFront-Signature=ab/cd+==", cc[2]])])
case("cookies ignored when the URL has a signing parameter", page + "&Expires=%d" % T_END, "MissingKey", cookies=["; ".join(cc)])
ck = cookies_custom(EC_KEY, EC_ID, custom("https://%s/docs/*" % HOST, ip="192.0.2.0/24"), "SHA256")
case("cookies custom EC-SHA256 with CloudFront-Hash-Algorithm", page, "ok", cookies=["; ".join(ck)], strip=False, expires_at=T_END)
case("cookies custom EC-SHA256, other file in the folder", "https://%s/docs/x/y.png" % HOST, "ok", cookies=["; ".join(ck)])
case("cookies custom EC-SHA256, outside the folder", "https://%s/private/x.png" % HOST, "AccessDenied", cookies=["; ".join(ck)])
case("cookies custom EC-SHA256, wrong IP", page, "AccessDenied", ip="198.51.100.1", cookies=["; ".join(ck)])
case("cookies custom EC-SHA256 without the hash cookie", page, "AccessDenied", cookies=["; ".join(ck[:3])])
case("cookies custom, policy cookie corrupt", page, "MalformedPolicy", cookies=["; ".join(["CloudFront-Policy=%%%"] + ck[1:])])

# The guide's own cookie example (signed-urls.md §3) decodes and parses; its signature is fake.
guide = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC94LyoiLCJDb25kaXRpb24iOnsiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjE4OTM0NTYwMDB9fX1dfQ__"
case("guide cookie example with a fake signature", "https://%s/x/y" % HOST, "AccessDenied",
     cookies=["CloudFront-Policy=%s; CloudFront-Signature=dtKhpJ3aUYxqDIwepczPiDb9NXQ_; CloudFront-Key-Pair-Id=%s" % (guide, RSA_ID)])

meta = {
    "generator": "scripts/gen-signing-fixtures.py",
    "botocore": __import__("botocore").__version__,
    "cryptography": __import__("cryptography").__version__,
    "keys": {RSA_ID: "rsa-public.pem", EC_ID: "ec-public.pem", OTHER_ID: "other-rsa-public.pem"},
    "trusted": TRUSTED,
}
with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump({"meta": meta, "cases": CASES}, f, indent=1, ensure_ascii=True)
    f.write("\n")
print("wrote %d cases" % len(CASES))

# ---- @aws-sdk/cloudfront-signer (optional) --------------------------------------------------
if "--js" in sys.argv:
    modules = sys.argv[sys.argv.index("--js") + 1]
    rsa_pem = open(os.path.join(ROOT, "keys", "demo-private.pem")).read()
    ec_pem = open(os.path.join(OUT, "ec-private.pem")).read()
    script = r"""
const { getSignedUrl, getSignedCookies } = require(process.argv[2] + "/@aws-sdk/cloudfront-signer");
const [rsaPem, ecPem, rsaId, ecId, host, end, start] = JSON.parse(process.argv[3]);
const out = [];
const when = new Date(end * 1000).toISOString();
const startIso = new Date(start * 1000).toISOString();
const u = (name, input, expect) => out.push({ name, url: getSignedUrl(input), expect });
u("js canned RSA-SHA1, odd characters", { url: `https://${host}/a b/ü.jpg?x=1 2&y=a+b&z=%2F&w=~'()*!`, keyPairId: rsaId, privateKey: rsaPem, dateLessThan: when }, "ok");
u("js canned RSA-SHA1, rounded date", { url: `https://${host}/r.txt`, keyPairId: rsaId, privateKey: rsaPem, dateLessThan: new Date(end * 1000 - 400).toISOString() }, "ok");
u("js canned RSA-SHA256", { url: `https://${host}/s.txt?a=1`, keyPairId: rsaId, privateKey: rsaPem, dateLessThan: when, algorithm: "SHA256" }, "ok");
u("js canned EC-SHA256", { url: `https://${host}/e.txt`, keyPairId: ecId, privateKey: ecPem, dateLessThan: when, algorithm: "SHA256" }, "ok");
u("js canned EC-SHA1", { url: `https://${host}/e1.txt`, keyPairId: ecId, privateKey: ecPem, dateLessThan: when }, "ok");
u("js custom RSA-SHA1 with IP and start", { url: `https://${host}/c.txt`, keyPairId: rsaId, privateKey: rsaPem, dateLessThan: when, dateGreaterThan: startIso, ipAddress: "192.0.2.0/24" }, "ok");
const pol = JSON.stringify({ Statement: [{ Resource: `https://${host}/dir/*`, Condition: { DateLessThan: { "AWS:EpochTime": end } } }] });
u("js custom policy EC-SHA256", { url: `https://${host}/dir/f.bin`, keyPairId: ecId, privateKey: ecPem, policy: pol, algorithm: "SHA256" }, "ok");
const c = (name, input, url, expect) => {
  const ck = getSignedCookies(input);
  out.push({ name, url, cookies: [Object.entries(ck).map(([k, v]) => `${k}=${v}`).join("; ")], expect });
};
c("js cookies canned RSA-SHA1", { url: `https://${host}/k.txt`, keyPairId: rsaId, privateKey: rsaPem, dateLessThan: when }, `https://${host}/k.txt`, "ok");
c("js cookies custom EC-SHA256", { url: `https://${host}/k2.txt`, keyPairId: ecId, privateKey: ecPem, policy: pol, algorithm: "SHA256" }, `https://${host}/dir/x`, "ok");
c("js cookies custom EC-SHA256, outside the policy", { url: `https://${host}/k2.txt`, keyPairId: ecId, privateKey: ecPem, policy: pol, algorithm: "SHA256" }, `https://${host}/other/x`, "AccessDenied");
console.log(JSON.stringify(out));
"""
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(script)
    args = json.dumps([rsa_pem, ec_pem, RSA_ID, EC_ID, HOST, T_END, T_START])
    js = json.loads(subprocess.check_output(["node", f.name, os.path.abspath(modules), args]))
    os.unlink(f.name)
    version = json.load(open(os.path.join(modules, "@aws-sdk/cloudfront-signer/package.json")))["version"]
    for c in js:
        c.setdefault("cookies", [])
        c.update({"ip": IP, "now": NOW, "trusted": TRUSTED})
    with open(os.path.join(OUT, "js-cases.json"), "w") as f:
        json.dump({"meta": {"signer": "@aws-sdk/cloudfront-signer " + version}, "cases": js}, f, indent=1)
        f.write("\n")
    print("wrote %d js cases" % len(js))
