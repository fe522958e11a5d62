#!/usr/bin/env python3
"""Generates privacy_corpus.tsv: positives and look-alike negatives per entity type, in
realistic sentences. Deterministic (fixed seed); rerun after editing and commit both files.

Line format: <type> TAB <expected value, or - for a negative> TAB <sentence, \\n for newlines>
[TAB <other values correctly found on the line: kind=value;;kind=value>]
"""
import base64, json, random, sys

# Another seed and output path (`gen_privacy_corpus.py 7 /tmp/c.tsv`) give a fresh corpus to try
# the detectors on: PRIVACY_CORPUS=/tmp/c.tsv cargo nextest run -p switchyard-core privacy_corpus
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
OUT = sys.argv[2] if len(sys.argv) > 2 else "privacy_corpus.tsv"
rows = []

def add(kind, value, templates, sentence_value=None):
    t = rng.choice(templates)
    rows.append((kind, value if value is not None else "-", t.format(v=sentence_value or value)))

def neg(kind, text, templates):
    rows.append((kind, "-", rng.choice(templates).format(v=text)))

def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)

def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))

# ---------------------------------------------------------------- credit_card
card_t = [
    "Please charge my card {v} for the annual plan.",
    "The customer paid with {v} but the charge was declined.",
    "Card number: {v}, expiry 09/27, CVC on the back.",
    "Refund the order to the original card ({v}) by Friday.",
    "I typed {v} into the checkout form and it failed twice.",
    "billing_card={v} status=pending",
]
prefixes = [("4", 16), ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("52", 16), ("53", 16), ("54", 16),
            ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15), ("6011", 16), ("65", 16),
            ("644", 16), ("3528", 16), ("3589", 16), ("36", 14), ("62", 16), ("6304", 16), ("2200", 16)]
def fmt_card(n, style):
    if style == 0:
        return n
    if len(n) == 15:
        parts = [n[:4], n[4:10], n[10:]]
    elif len(n) == 14:
        parts = [n[:4], n[4:10], n[10:]]
    elif len(n) == 13:
        parts = [n[:4], n[4:7], n[7:10], n[10:]]
    else:
        parts = [n[i:i + 4] for i in range(0, len(n), 4)]
    return (" " if style == 1 else "-").join(parts)
valid_cards = []
for i in range(44):
    p, length = prefixes[i % len(prefixes)]
    body = p + digits(length - len(p) - 1)
    n = body + luhn_digit(body)
    valid_cards.append(n)
    v = fmt_card(n, i % 3)
    add("credit_card", v, card_t)
card_neg_t = [
    "Your order number is {v}; keep it for returns.",
    "Tracking id {v} was scanned at the depot this morning.",
    "The invoice reference {v} appears twice in the ledger.",
    "Account statement line: {v} — balance carried forward.",
    "Batch {v} finished with 0 errors.",
]
for i, n in enumerate(valid_cards[:20]):
    bad = n[:-1] + str((int(n[-1]) + 1 + i % 8) % 10)  # fails Luhn
    neg("credit_card", fmt_card(bad, i % 3), card_neg_t)
for i in range(10):  # Luhn-valid but no issuer prefix
    body = rng.choice("1789") + digits(14)
    neg("credit_card", body + luhn_digit(body), card_neg_t)
for v in ["9400 1118 9922 3334 4455 66", "1700000000000", "978-3-16-148410-0", "4111-1111 1111-1111",
          "4111-1111-1111-1111-2222", "0000 0000 0000 0000", "12345678901234567890123", "4111 1111",
          "2024 0115 1030 4521", "3.14159265358979323"]:
    neg("credit_card", v, card_neg_t)

# ---------------------------------------------------------------- iban
iban_t = [
    "Please wire the deposit to IBAN {v} before the 5th.",
    "Our bank details: {v} (BIC on the invoice).",
    "Refunds go to {v}, account holder J. Martin.",
    "IBAN: {v}",
    "Can you confirm the transfer to {v} went through?",
]
iban_specs = [("DE", "n18"), ("GB", "a4n14"), ("FR", "n10a1n12"), ("NL", "a4n10"), ("ES", "n20"),
              ("IT", "a1n22"), ("BE", "n12"), ("CH", "n17"), ("AT", "n16"), ("PL", "n24"), ("SE", "n20"),
              ("NO", "n11"), ("DK", "n14"), ("FI", "n14"), ("IE", "a4n14"), ("PT", "n21"), ("LU", "n16")]
def bban(spec):
    out, i = "", 0
    while i < len(spec):
        kind = spec[i]
        j = i + 1
        while j < len(spec) and spec[j].isdigit():
            j += 1
        n = int(spec[i + 1:j])
        out += "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ" if kind == "a" else "0123456789") for _ in range(n))
        i = j
    return out
def iban_check(cc, b):
    s = b + cc + "00"
    num = int("".join(str(int(c, 36)) for c in s))
    return "%02d" % (98 - num % 97)
def fmt_iban(iban, spaced):
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if spaced else iban
ibans = []
for i in range(44):
    cc, spec = iban_specs[i % len(iban_specs)]
    b = bban(spec)
    iban = cc + iban_check(cc, b) + b
    ibans.append(iban)
    add("iban", fmt_iban(iban, i % 2 == 0), iban_t)
iban_neg_t = [
    "The reference {v} is printed on the remittance slip.",
    "Product code {v} is out of stock until March.",
    "Our VAT number is {v}.",
    "See ticket {v} for the migration plan.",
]
for i, iban in enumerate(ibans[:22]):
    d = int(iban[3]); bad = iban[:3] + str((d + 3) % 10) + iban[4:]
    if i % 3 == 2:
        bad = iban[:-1]  # wrong length
    neg("iban", fmt_iban(bad, i % 2 == 0), iban_neg_t)
for v in ["DE123456789", "GB 2024 annual report", "DEUTDEFF500", "XX82WEST12345698765432", "DE4000",
          "FR7612345", "NL91ABNA04171643", "GB29NWBK6016133192681X", "AB12 3456 7890 1234 5678 90", "SE45 5000",
          "CH93-0076-2011-6238-5295-7", "DE89370400440532013001", "US12345678901234567890", "IT60X054", "BE68 5390 0754 7035",
          "PL6110 9010 1400 0000 1234 5678", "ES91 2100 0418 4502 0005 133", "AT61 1904 3002 3457 320"]:
    neg("iban", v, iban_neg_t)

# ---------------------------------------------------------------- us_ssn
ssn_t = [
    "My SSN is {v} if you need it for the form.",
    "Employee record: name Dana Lee, SSN {v}, start date next Monday.",
    "Social Security Number: {v}",
    "Please update the W-2 with social security no. {v} instead.",
    "The applicant's SSN ({v}) does not match the IRS record.",
]
def ssn_value():
    while True:
        a = rng.randint(1, 899)
        if a != 666:
            break
    return "%03d" % a, "%02d" % rng.randint(1, 99), "%04d" % rng.randint(1, 9999)
for i in range(44):
    a, g, s = ssn_value()
    v = [f"{a}-{g}-{s}", f"{a} {g} {s}", f"{a}{g}{s}"][i % 3]
    add("us_ssn", v, ssn_t)
ssn_neg_t = [
    "Order {v} was shipped yesterday.",
    "The part number {v} is on backorder.",
    "Reference {v} is attached to the claim.",
    "Our zip+4 is {v} for the new office.",
]
for i in range(20):
    a, g, s = ssn_value()
    bad = [("000", g, s), ("666", g, s), ("9%02d" % rng.randint(0, 99), g, s), (a, "00", s), (a, g, "0000")][i % 5]
    neg("us_ssn", "-".join(bad), ssn_t)
for i in range(12):
    a, g, s = ssn_value()
    neg("us_ssn", a + g + s, ssn_neg_t)  # bare nine digits, no context
for v in ["94105-1234", "123-45-67890", "12-345-6789", "123-456-789", "2024-01-15", "123.45.6789",
          "1234-56-789", "123-45 6789", "00123-45-6789", "123-45-6789-1"]:
    neg("us_ssn", v, ssn_neg_t)

# ---------------------------------------------------------------- email
email_t = [
    "Send the contract to {v} and cc legal.",
    "Contact: {v}",
    "My email is {v}, please reply there.",
    "From: Jane Doe <{v}>",
    "Forwarding the thread to {v} for review.",
    "user={v};role=admin",
]
locals_ = ["jane.doe", "j.smith", "support", "billing+invoices", "alex_92", "maria.garcia-lopez", "o'neil".replace("'", ""),
           "dev-team", "first.last", "no-reply", "k.tanaka", "x", "sales2024", "info", "a.b.c", "zoe+promo"]
domains = ["example.com", "mail.example.co.uk", "company.io", "uni.edu", "sub.domain.org", "example.de",
           "startup.ai", "corp.example.net", "xn--bcher-kva.example", "health-care.gov", "shop.example.fr"]
for i in range(44):
    v = rng.choice(locals_) + "@" + rng.choice(domains)
    if i % 9 == 0:
        v = v.upper()
    add("email", v, email_t)
email_neg_t = [
    "Ping {v} in the channel when it is done.",
    "We pinned {v} in package.json.",
    "The asset {v} is missing from the build.",
    "Write to {v} (spelled out to avoid spam bots).",
    "Config: {v}",
]
for v in ["@channel", "@here", "@jane.doe", "lodash@4.17.21", "react@18.2.0", "typescript@5.3.3", "icon@2x.png",
          "logo@3x.jpg", "user@localhost", "root@server", "jane at example dot com", "john(at)example.com",
          "@example.com", "support@", "a@b", "x@y.z", "name@domain.c", "foo@bar..com", "test@-example.com",
          "admin@@example.com", "@@", "user@.example.com", "hello@world", "npm i vue@3.4.0", "me@server-1",
          "a@b.c.d.1", "thing@v2", "docker pull nginx@sha256:abc123", "email@123.123.123", "@types/node",
          "rate 5@10%", "user @ example.com", "mailto:", "git@", "pkg@latest", "@mention-bot", "x@y",
          "sign@", "alpha@beta.gamma1", "pic@4x.webp"]:
    neg("email", v, email_neg_t)

# ---------------------------------------------------------------- ip_address
ip_t = [
    "The request came from {v} at 03:12 UTC.",
    "SSH into {v} and restart the service.",
    "Blocked IP: {v}",
    "Add {v} to the allowlist, please.",
]
ip_port_t = ["Our gateway listens on {v}:8080 behind the firewall."]
ip6_port_t = ["Our gateway listens on [{v}]:8080 behind the firewall."]
for i in range(30):
    v = ".".join(str(rng.choice([rng.randint(0, 255), rng.randint(1, 99), 10, 192, 172])) for _ in range(4))
    add("ip_address", v, ip_t + ip_port_t)
for v in ["2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a", "2001:db8:85a3::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
          "::ffff:192.0.2.128", "2606:4700:4700::1111", "fd00::1", "2a00:1450:4001:81c::200e", "2001:db8:0:0:1::1",
          "fe80::a00:27ff:fe4e:66a1", "1.2.3.4", "8.8.8.8", "255.255.255.255", "172.16.254.1"]:
    add("ip_address", v, ip_t + (ip6_port_t if ":" in v else ip_port_t))
ip_neg_t = [
    "Upgrade to {v} before the deadline.",
    "The log line reads {v} and nothing else.",
    "Set the value to {v} in the config.",
    "Release notes for {v} are attached.",
]
for v in ["256.1.1.1", "1.2.3.4.5", "999.10.10.10", "192.168.1.300", "10.0.0", "01.02.03.04", "v1.2.3.4",
          "1.2.3", "2024.01.15", "12:30:45", "00:1a:2b:3c:4d:5e", "std::io::Read", "Vec::new()", "de:ad:be:ef",
          "3:2:1", "1.0.0-beta.2", "10.0.19041.1", "ratio 16:9", "a::b::c", "fe80:::1", "2001:db8::g1",
          "1::2::3", "12345::", "::", "ns::func", "10.10.10.10.10", "300.300.300.300", "4.3.2", "1.2.3.04",
          "192.168.001.1", "10.0.0.1a", "x86_64::asm", "::operator new", "08:00:27:4e:66:a1", "23:59:59.999",
          "2.3.4.5.6.7", "1.256.1.1", "version 6.1.0.17", "127.0.0.1", "0.0.0.0", "::1", "build 4.3.2.1", "C:\\Windows\\System32", "http://:8080"]:
    neg("ip_address", v, ip_neg_t)

# ---------------------------------------------------------------- phone
phone_t = [
    "Call me at {v} after 5pm.",
    "You can reach our support line on {v}.",
    "Phone: {v}",
    "Her mobile number is {v}, texts are fine.",
    "Leave a voicemail at {v} if nobody answers.",
]
phone_pos = ["+1 415 555 2671", "+1 (212) 555-0147", "+14155552671", "+1-646-555-0199", "(415) 555-2671",
             "415-555-2671", "415.555.2671", "1-800-555-0199", "1 (312) 555-0123", "+44 20 7946 0958",
             "+44 (0)20 7946 0958", "+44 7700 900123", "+447700900123", "020 7946 0958", "07700 900123",
             "+33 6 12 34 56 78", "+33 1 42 68 53 00", "06 12 34 56 78", "01 42 68 53 00", "+49 30 901820",
             "+49 151 23456789", "+49-89-1234567", "030 901820", "0151 23456789", "+34 612 345 678",
             "+39 06 6982 1234", "+39 347 123 4567", "+31 6 12345678", "+61 2 9876 5432", "+61 412 345 678",
             "+81 3-1234-5678", "+91 98765 43210", "+86 138 0013 8000", "+55 11 91234-5678", "+52 55 1234 5678",
             "+353 1 234 5678", "+41 44 668 18 00", "+46 8 123 456 78", "+65 6123 4567", "+971 4 123 4567",
             "+27 21 123 4567", "+7 495 123-45-67", "(020) 7946 0958", "+1 202 555 0173"]
for v in phone_pos:
    add("phone", v, phone_t)
for v in ["4155552671"]:
    rows.append(("phone", v, f"Call me on {v} tomorrow morning."))
phone_neg_t = [
    "Ticket {v} was closed by the on-call engineer.",
    "The build {v} passed all checks.",
    "Invoice {v} is overdue.",
    "See row {v} in the spreadsheet.",
]
for v in ["2024-01-15", "15.01.2024", "10:30:00", "1700000000", "1.2.3.4.5", "v2.10.3", "123-456-7890",
          "+1 123 456 7890", "+1 911 555 2671", "+99 123 456 789", "+0 123 456 789", "#4155552671", "4155552671",
          "415-555-267", "4155-5526-71", "978-0-306-40615-7", "INV-2024-000123", "1,234,567.89", "+5 points",
          "3 + 4 = 7", "2024-01-15T10:30:00+05:30", "123e4567-e89b-12d3-a456-426614174000", "94105", "12/25/2024",
          "+44 20 7946 09581", "+33 6 12 34 56", "+49 1", "0000 000 0000", "00 00 00 00 00", "415 555 26710",
          "(415) 555-26710", "1234567890123", "415/555/2671", "+1 415 555", "PO 4155 5526 71", "8.8.8.8.8",
          "release 20.04.6", "4.15.555.2671", "0.5551234567", "+12", "1e10"]:
    neg("phone", v, phone_neg_t)

# ---------------------------------------------------------------- secret
secret_t = [
    "Here is the key, please keep it safe: {v}",
    "export TOKEN={v}",
    "The deploy failed with credentials {v} in the log.",
    "Authorization: Bearer {v}",
    "config.yaml has api_key: {v} committed by mistake.",
]
def rand_chars(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))
AN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0234567"
def mixed(n, extra=""):
    while True:
        s = rand_chars(AN + extra, n)
        if any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s):
            return s
def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")
for i in range(6):
    add("secret", "AKIA" + rand_chars(UP, 16), secret_t)
for i in range(3):
    add("secret", "ASIA" + rand_chars(UP, 16), secret_t)
for i in range(5):
    key = mixed(40, "/+")
    rows.append(("secret", key, rng.choice([
        f"aws_secret_access_key = {key}",
        f"AWS secret key: {key} (rotate after use)",
        f"Set AWS_SECRET_ACCESS_KEY={key} in the runner.",
    ])))
for i in range(5):
    add("secret", "sk-" + mixed(48), secret_t)
for i in range(5):
    add("secret", "sk-proj-" + mixed(40, "_-") + "A1", secret_t)
for i in range(5):
    add("secret", "sk-ant-api03-" + mixed(80, "_-") + "AA", secret_t)
for p in ["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]:
    add("secret", p + mixed(36), secret_t)
for i in range(2):
    add("secret", "github_pat_11" + mixed(20) + "_" + mixed(59), secret_t)
for i in range(5):
    header = b64url({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    payload = b64url({"sub": str(rng.randint(1000, 99999)), "name": "Jane Doe", "iat": 1516239022 + i})
    add("secret", f"{header}.{payload}.{mixed(43, '_-')}", secret_t)
for i, label in enumerate(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]):
    body = "\\n".join(mixed(64, "+/") for _ in range(3))
    pem = f"-----BEGIN {label}-----\\n{body}\\n-----END {label}-----"
    rows.append(("secret", pem, f"Here is the server key:\\n{pem}\\nDelete it after use."))
for p in ["xoxb-", "xoxp-"]:
    add("secret", p + digits(12) + "-" + digits(13) + "-" + mixed(24), secret_t)
for i in range(3):
    add("secret", "AIza" + mixed(35, "_-")[:35], secret_t)
secret_neg_t = [
    "We used {v} in the prototype.",
    "The commit message mentions {v}.",
    "Output: {v}",
    "Look at {v} in the docs.",
]
for v in ["sk-learn", "scikit-learn", "task-based scheduling", "risk-free", "desk-top", "sk-this-is-not-a-real-key-at-all",
          "ghp_short", "ghp_", "github_pat", "AKIA", "AKIAN tribe", "ASIAN markets", "eyJ", "eyJub3RfYV9qd3QiOjF9.eyJzdWIiOjF9.sig",
          "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUF\\n-----END CERTIFICATE-----",
          "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYI\\n-----END PUBLIC KEY-----",
          "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "123e4567-e89b-12d3-a456-426614174000",
          "d41d8cd98f00b204e9800998ecf8427e", "dGhpcyBpcyBqdXN0IGEgYmFzZTY0IGJsb2Igb2YgdGV4dA==",
          mixed(40, "/+"), mixed(40), "xoxo-gossip-girl", "AIzaShort", "sk-12345", "sk-", "the sk- prefix is OpenAI's",
          "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
          "0x" + "ab" * 20, "AKIAIOSFODNN7EXAMPL", "ghp-" + mixed(36), "xoxb", "eyJhbGciOiJIUzI1NiJ9",
          "Bearer <your-token-here>", "api_key: ${OPENAI_API_KEY}", "sk-ant-", "AWS region us-east-1 and bucket logs-2024",
          "mask-" + mixed(30)]:
    neg("secret", v, secret_neg_t)

# ---------------------------------------------------------------- hand-written hard cases
# JSON, logs, code, URLs and mixed-language text, where boundaries are not spaces.
HARD = [
    ("email", "ops@corp.example.net", '{"user":{"email":"ops@corp.example.net","role":"admin"}}'),
    ("email", "jane.doe@example.com", "mailto:jane.doe@example.com?subject=Invoice"),
    ("email", "Max.Mustermann@firma.de", "Bitte antworten Sie an Max.Mustermann@firma.de, danke."),
    ("email", "-", "const re = /^[^@]+@[^@]+$/; // not an address"),
    ("email", "-", "Decorators like @dataclass and @property@staticmethod are Python."),
    ("phone", "+14155552671", '{"to":"+14155552671","body":"Your code is 492013"}'),
    ("phone", "+44 7700 900123", "2024-05-01T10:00:00Z INFO sms sent to=+44 7700 900123 status=ok"),
    ("phone", "030/901820", "Rufen Sie uns an: Tel. 030/901820 (Mo-Fr)."),
    ("phone", "+1 415 555 2671", "tel:+1 415 555 2671;ext=23"),
    ("phone", "-", "Dates 01/15/2024 and 12/25/2024 are holidays; ref 2024/000123."),
    ("phone", "-", "The price moved from 1,234.50 to 1,299.00 (+5.2%) in Q3 2024."),
    ("phone", "-", "pid 48213 exited with code 137 after 3600 s; inode 7340032."),
    ("phone", "-", "Free Software Foundation, 51 Franklin St, Boston, MA 02110-1301 USA"),
    ("phone", "-", "Rights clause DFARS 252.227-7013 applies to the government."),
    ("credit_card", "4111111111111111", '{"payment":{"pan":"4111111111111111","exp":"12/26"}}'),
    ("credit_card", "5500 0000 0000 0004", "Karte: 5500 0000 0000 0004, gültig bis 08/27."),
    ("credit_card", "-", "SELECT * FROM orders WHERE id = 4111111111111112 LIMIT 1;"),
    ("credit_card", "-", "epoch_ms=1715000000000 seq=9223372036854775807"),
    ("iban", "NL91ABNA0417164300", "payload: {\"iban\": \"NL91ABNA0417164300\", \"bic\": \"ABNANL2A\"}"),
    ("iban", "GB29 NWBK 6016 1331 9268 19", "Pay to GB29 NWBK 6016 1331 9268 19; reference INV-204."),
    ("iban", "-", "Part numbers DE1234, GB2024 and FR9 are discontinued."),
    ("us_ssn", "078-05-1121", '{"ssn":"078-05-1121","dob":"1970-01-01"}'),
    ("us_ssn", "219099998", "ssn=219099998 verified=false"),
    ("us_ssn", "-", "Call 212-555-0147 or fax 212-555-0148 for details.", "phone=212-555-0147;;phone=212-555-0148"),
    ("ip_address", "192.168.0.1", "Open http://192.168.0.1/admin in the browser."),
    ("ip_address", "2001:db8::1", "curl -g 'http://[2001:db8::1]:8080/health'"),
    ("ip_address", "fe80::1", "ping6 fe80::1%eth0 timed out"),
    ("ip_address", "-", "let x = a::b(); use crate::c::d; // Rust paths, not addresses"),
    ("ip_address", "-", "The match ended 3:1:0 after extra time at 21:45:10."),
    ("secret", "sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ012345678", "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ012345678"),
    ("secret", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo.git"),
    ("secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", '{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}'),
    ("secret", "s3cret-Pa55", "DATABASE_URL=postgres://admin:s3cret-Pa55@db.example.com:5432/app"),
    ("secret", "hunter2", "REDIS_URL=redis://:hunter2@cache.internal:6379/0"),
    ("secret", "-", "Clone with git@github.com:org/repo.git or https://github.com/org/repo."),
    ("secret", "-", "pip install scikit-learn; the ask-sk-team channel; risk-adjusted returns"),
    ("secret", "-", "Docker image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
]
rows.extend(HARD)

with open(OUT, "w") as f:
    f.write("# generated by gen_privacy_corpus.py: type\texpected (- for a negative)\tsentence (\\n = newline)"
            "[\tother expected values on the line: kind=value;;kind=value]\n")
    for kind, value, sentence, *also in rows:
        assert "\t" not in sentence and "\n" not in sentence, sentence
        extra = f"\t{also[0]}" if also else ""
        f.write(f"{kind}\t{value}\t{sentence}{extra}\n")
print(len(rows), "rows")
