//! The address table, and fetches against a local fake server: what is refused, what is read,
//! and what an error tells the client.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;
use switchyard_protocol::openai::ChatRequest;
use switchyard_testkit::{FakeUpstream, Reply, Split};

use super::*;

/// A PNG signature and header chunk: enough for the magic-byte sniffing.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";

fn image(content_type: &str, body: &[u8]) -> Reply {
    Reply::Json { status: 200, body: body.to_vec().into(), headers: vec![("content-type".into(), content_type.into())] }
}

fn redirect(status: u16, location: &str) -> Reply {
    Reply::Json { status, body: Default::default(), headers: vec![("location".into(), location.into())] }
}

fn fetcher(policy: FetchPolicy) -> ImageFetcher {
    ImageFetcher::new(policy).unwrap()
}

fn private_ok() -> FetchPolicy {
    FetchPolicy { allow_private: true, ..FetchPolicy::default() }
}

fn url(server: &FakeUpstream, path: &str) -> String {
    format!("http://{}{path}", server.addr())
}

#[test]
fn classifies_addresses() {
    let cases = [
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("192.0.3.1", None),
        ("0.0.0.0", Some("an unspecified address")),
        ("127.0.0.1", Some("a loopback address")),
        ("127.255.255.254", Some("a loopback address")),
        ("10.1.2.3", Some("a private address")),
        ("172.16.0.1", Some("a private address")),
        ("172.31.255.255", Some("a private address")),
        ("192.168.1.1", Some("a private address")),
        ("169.254.169.254", Some("a link-local address (cloud metadata lives there)")),
        ("100.64.0.1", Some("a shared (carrier-grade NAT) address")),
        ("100.127.255.255", Some("a shared (carrier-grade NAT) address")),
        ("192.0.2.10", Some("a documentation address")),
        ("198.51.100.7", Some("a documentation address")),
        ("203.0.113.99", Some("a documentation address")),
        ("198.18.0.1", Some("a reserved address")),
        ("224.0.0.251", Some("a multicast address")),
        ("255.255.255.255", Some("the broadcast address")),
        ("240.0.0.1", Some("a reserved address")),
        ("2606:4700:4700::1111", None),
        ("2a00:1450:4001::200e", None),
        ("::", Some("an unspecified address")),
        ("::1", Some("a loopback address")),
        ("fc00::1", Some("a unique-local (private) address")),
        ("fd12:3456::1", Some("a unique-local (private) address")),
        ("fe80::1", Some("a link-local address")),
        ("febf::1", Some("a link-local address")),
        ("fec0::1", Some("a site-local (private) address")),
        ("ff02::1", Some("a multicast address")),
        ("2001:db8::1", Some("a documentation address")),
        ("3fff::1", Some("a documentation address")),
        ("::127.0.0.1", Some("a reserved address")),
        ("100::1", Some("a reserved address")),
        // IPv4 inside IPv6 is judged by the IPv4 address it reaches.
        ("::ffff:127.0.0.1", Some("a loopback address")),
        ("::ffff:169.254.169.254", Some("a link-local address (cloud metadata lives there)")),
        ("::ffff:10.0.0.1", Some("a private address")),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::a9fe:a9fe", Some("a link-local address (cloud metadata lives there)")),
        ("64:ff9b::808:808", None),
        ("2002:c0a8:0101::1", Some("a private address")),
        ("2002:0808:0808::1", None),
    ];
    for (ip, expected) in cases {
        assert_eq!(refusal(ip.parse::<IpAddr>().unwrap()), expected, "{ip}");
    }
}

#[test]
fn policy_reads_with_defaults_and_refuses_unknown_keys() {
    assert_eq!(serde_json::from_value::<FetchPolicy>(json!({})).unwrap(), FetchPolicy::default());
    assert_eq!(
        FetchPolicy::default(),
        FetchPolicy { allow_private: false, max_bytes: 20 << 20, timeout: Duration::from_secs(10), max_redirects: 3 }
    );
    let policy: FetchPolicy = serde_json::from_value(json!({"allow_private": true, "timeout": "2s", "max_bytes": 1000})).unwrap();
    assert_eq!((policy.allow_private, policy.timeout, policy.max_bytes, policy.max_redirects), (true, Duration::from_secs(2), 1000, 3));
    assert!(serde_json::from_value::<FetchPolicy>(json!({"allow_privat": true})).unwrap_err().to_string().contains("unknown field"));
}

#[test]
fn media_type_trusts_magic_bytes_then_image_types() {
    assert_eq!(media_type("application/octet-stream", PNG).as_deref(), Some("image/png"));
    assert_eq!(media_type("image/png", b"\xff\xd8\xff\xe0rest").as_deref(), Some("image/jpeg"), "the bytes win over the label");
    assert_eq!(media_type("", b"GIF89a....").as_deref(), Some("image/gif"));
    assert_eq!(media_type("", b"RIFF\x10\x00\x00\x00WEBPVP8 ").as_deref(), Some("image/webp"));
    assert_eq!(media_type("image/heic", b"\x00\x00\x00\x18ftypheic").as_deref(), Some("image/heic"));
    assert_eq!(media_type("application/pdf", b"%PDF-1.7").as_deref(), Some("application/pdf"));
    assert_eq!(media_type("text/html", b"<html>"), None);
    assert_eq!(media_type("image/png", b""), None);
}

#[tokio::test]
async fn loopback_is_refused_by_default_and_fetched_when_allowed() {
    let server = FakeUpstream::start_repeating(image("image/png", PNG)).await;
    let err = fetcher(FetchPolicy::default()).fetch(&url(&server, "/cat.png?sig=SECRET")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(err.message.contains("host `127.0.0.1`") && err.message.contains("127.0.0.1 is a loopback address"), "{}", err.message);
    assert!(!err.message.contains("SECRET") && !err.message.contains("cat.png"), "the path and query stay out of errors: {}", err.message);
    assert_eq!(server.request_count(), 0, "nothing was sent");

    let (media_type, bytes) = fetcher(private_ok()).fetch(&url(&server, "/cat.png")).await.unwrap();
    assert_eq!((media_type.as_str(), bytes.as_slice()), ("image/png", PNG));
    let sent = server.last_request();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", "/cat.png"));
    assert!(sent.header("user-agent").is_some_and(|ua| ua.starts_with("switchyard/")));
}

#[tokio::test]
async fn host_names_are_checked_after_resolving() {
    let server = FakeUpstream::start_repeating(image("image/png", PNG)).await;
    let err = fetcher(FetchPolicy::default()).fetch(&format!("http://localhost:{}/a.png", server.addr().port())).await.unwrap_err();
    assert!(err.message.contains("`localhost` resolves to") && err.message.contains("a loopback address"), "{}", err.message);
    assert_eq!(server.request_count(), 0);
    let (media_type, _) = fetcher(private_ok()).fetch(&format!("http://localhost:{}/a.png", server.addr().port())).await.unwrap();
    assert_eq!(media_type, "image/png");
}

#[tokio::test]
async fn only_http_and_https_are_fetched() {
    let f = fetcher(private_ok());
    for (url, reason) in [
        ("file:///etc/passwd", "not `file:`"),
        ("gopher://127.0.0.1:70/", "not `gopher:`"),
        ("not a url", "not a valid URL"),
        ("http://[::1]:1/", "could not be reached"),
    ] {
        let err = f.fetch(url).await.unwrap_err();
        assert!(err.kind == ErrorKind::BadRequest && err.message.contains(reason), "{url}: {}", err.message);
    }
    let err = fetcher(FetchPolicy::default()).fetch("http://[::ffff:169.254.169.254]/latest/meta-data/").await.unwrap_err();
    assert!(err.message.contains("a link-local address"), "{}", err.message);
}

#[tokio::test]
async fn size_limit_holds_for_declared_and_streamed_bodies() {
    let policy = FetchPolicy { max_bytes: 1000, ..private_ok() };
    let big: Vec<u8> = PNG.iter().copied().chain(std::iter::repeat_n(0u8, 2000)).collect();
    let server = FakeUpstream::start_repeating(image("image/png", &big)).await;
    let err = fetcher(policy.clone()).fetch(&url(&server, "/big.png")).await.unwrap_err();
    assert!(err.message.contains("larger than 1000 bytes"), "{}", err.message);

    // No Content-Length: the limit is enforced while reading.
    let server = FakeUpstream::start_repeating(Reply::sse(big.clone()).split(Split::EveryNBytes(300))).await;
    let err = fetcher(policy.clone()).fetch(&url(&server, "/big.png")).await.unwrap_err();
    assert!(err.message.contains("larger than 1000 bytes"), "{}", err.message);

    let fits = FakeUpstream::start_repeating(image("image/png", &big[..1000])).await;
    assert_eq!(fetcher(policy).fetch(&url(&fits, "/ok.png")).await.unwrap().1.len(), 1000);
}

#[tokio::test]
async fn content_must_be_an_image() {
    let server =
        FakeUpstream::start(vec![image("text/html; charset=utf-8", b"<html>login</html>"), image("application/octet-stream", PNG)]).await;
    let err = fetcher(private_ok()).fetch(&url(&server, "/page")).await.unwrap_err();
    assert!(err.message.contains("not an image (content type `text/html`)"), "{}", err.message);
    assert_eq!(fetcher(private_ok()).fetch(&url(&server, "/blob")).await.unwrap().0, "image/png", "unlabelled PNG bytes are sniffed");

    let server = FakeUpstream::start_repeating(Reply::json_status(404, "{}")).await;
    let err = fetcher(private_ok()).fetch(&url(&server, "/gone.png")).await.unwrap_err();
    assert!(err.message.contains("HTTP 404"), "{}", err.message);
}

#[tokio::test]
async fn redirects_are_followed_and_every_hop_is_checked() {
    let server = FakeUpstream::start_repeating(image("image/png", PNG)).await;
    let target = url(&server, "/final.png");
    let hops = FakeUpstream::start(vec![redirect(302, "/second"), redirect(307, &target)]).await;
    let (media_type, _) = fetcher(private_ok()).fetch(&url(&hops, "/first")).await.unwrap();
    assert_eq!(media_type, "image/png");
    assert_eq!(hops.requests().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/first", "/second"], "relative Location resolved");
    assert_eq!(server.last_request().path, "/final.png");

    // A server treated as public that redirects inward: each hop is refused before any connect.
    for inward in
        [target.clone(), "http://169.254.169.254/latest/meta-data/".to_string(), format!("http://localhost:{}/", server.addr().port())]
    {
        let hops = FakeUpstream::start(vec![redirect(301, "/next"), redirect(302, &inward)]).await;
        let before = server.request_count();
        let err = fetcher(FetchPolicy::default()).trusting(hops.addr()).fetch(&url(&hops, "/start")).await.unwrap_err();
        assert!(
            err.kind == ErrorKind::BadRequest && (err.message.contains("loopback") || err.message.contains("link-local")),
            "{inward}: {}",
            err.message
        );
        assert_eq!((hops.request_count(), server.request_count()), (2, before), "{inward}");
    }

    let endless = FakeUpstream::start_repeating(redirect(302, "/again")).await;
    let err = fetcher(FetchPolicy { max_redirects: 2, ..private_ok() }).fetch(&url(&endless, "/")).await.unwrap_err();
    assert!(err.message.contains("more than 2 redirects"), "{}", err.message);
    assert_eq!(endless.request_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stalling_server_times_out() {
    let server = FakeUpstream::start_repeating(Reply::StallBeforeHeaders).await;
    let policy = FetchPolicy { timeout: Duration::from_secs(3), ..private_ok() };
    let started = tokio::time::Instant::now();
    let err = fetcher(policy).fetch(&url(&server, "/slow.png")).await.unwrap_err();
    assert!(err.kind == ErrorKind::BadRequest && err.message.contains("no complete answer within 3s"), "{}", err.message);
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test]
async fn remote_images_become_data_urls() {
    let server = FakeUpstream::start(vec![image("image/png", PNG), image("image/gif", b"GIF89a\x01\x00")]).await;
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "look closely"},
        {"role": "user", "content": [{"type": "text", "text": "compare"},
            {"type": "image_url", "image_url": {"url": url(&server, "/a.png")}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url(&server, "/b.gif")}}]}
    ]});
    let request = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
    let mut conversation = Conversation::from_request(&request).unwrap();
    inline_remote_images(&mut conversation, &fetcher(private_ok())).await.unwrap();
    let images: Vec<&str> = conversation
        .turns
        .iter()
        .filter_map(|t| if let Turn::User(parts) = t { Some(parts) } else { None })
        .flatten()
        .filter_map(|p| if let Part::Image { url } = p { Some(url.as_str()) } else { None })
        .collect();
    let png = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(PNG));
    assert_eq!(images, [png.as_str(), "data:image/jpeg;base64,/9j/", "data:image/gif;base64,R0lGODlhAQA="]);
    assert_eq!(server.request_count(), 2);

    let mut conversation = Conversation::from_request(&request).unwrap();
    let err = inline_remote_images(&mut conversation, &fetcher(FetchPolicy::default())).await.unwrap_err();
    assert!(
        err.param.as_deref() == Some("messages[1].content[1].image_url")
            || err.param.as_deref() == Some("messages[3].content[0].image_url"),
        "{err:?}"
    );
    assert!(err.message.contains("loopback"), "{}", err.message);
}

#[tokio::test]
async fn many_images_are_fetched_a_few_at_a_time() {
    let server = FakeUpstream::start_repeating(Reply::StallBeforeHeaders).await;
    let parts: Vec<_> = (0..8).map(|i| json!({"type": "image_url", "image_url": {"url": url(&server, &format!("/{i}.png"))}})).collect();
    let request =
        ChatRequest::parse(json!({"model": "m", "messages": [{"role": "user", "content": parts}]}).to_string().as_bytes()).unwrap();
    let mut conversation = Conversation::from_request(&request).unwrap();
    // No answer ever comes, so no slot frees up: more than four requests would mean no bound.
    let fetcher = fetcher(private_ok());
    assert!(tokio::time::timeout(Duration::from_millis(1500), inline_remote_images(&mut conversation, &fetcher)).await.is_err());
    assert_eq!(server.request_count(), CONCURRENT_FETCHES);
}
