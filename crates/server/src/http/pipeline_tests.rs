//! The core pipeline driven directly, without HTTP: what each endpoint's request becomes, and
//! that every way a request can end leaves exactly one log record.

use std::future::Future;

use bytes::Bytes;
use switchyard_core::pipeline::{AnswerBody, BodyError, Inbound, PipelineError, StreamEvent};
use switchyard_core::store::LogRecord;
use switchyard_core::{decode_chat, decode_embeddings, Decode, Recorder, RequestHeaders};
use switchyard_store::{LogWriter, LogWriterConfig, MemoryLog};

use super::tests::test_app;
use super::App;

fn inbound(decode: Decode, body: &str) -> Inbound<impl Future<Output = Result<Bytes, BodyError>>> {
    let body = Bytes::from(body.to_string());
    Inbound { body: async move { Ok(body) }, decode, key: None, headers: RequestHeaders::default(), on_stream: None }
}

fn recorder(app: &App, id: &str) -> Recorder {
    Recorder::start(app.log.clone(), id.to_string(), false)
}

fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

async fn records_of(run: impl AsyncFnOnce(&App)) -> Vec<LogRecord> {
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let writer = LogWriter::start(log.clone(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
    let app = test_app(&writer).await;
    run(&app).await;
    drop(app);
    writer.shutdown();
    let mut records = log.records();
    records.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    records
}

#[tokio::test]
async fn chat_and_embeddings_run_the_same_steps_and_are_recorded_once() {
    let records = records_of(async |app| {
        let snap = app.snapshot();
        let p = app.pipeline(&snap);
        let chat = r#"{"model":"mock/echo","messages":[{"role":"user","content":"one pipeline"}],"metadata":{"job":"t"}}"#;
        let Ok(answer) = p.run(inbound(decode_chat, chat), recorder(app, "a-chat")).await else { panic!("chat is answered") };
        let AnswerBody::Complete(body) = answer.body else { panic!("a complete answer") };
        assert!(std::str::from_utf8(&body).unwrap().contains("one pipeline"));
        assert_eq!(header(&answer.headers, "x-switchyard-provider"), Some("mock"));
        assert_eq!(header(&answer.headers, "x-switchyard-cache"), Some("BYPASS"));

        let embed = r#"{"model":"mock/embed","input":["a b","c"],"customer_identifier":"acme"}"#;
        let Ok(answer) = p.run(inbound(decode_embeddings, embed), recorder(app, "b-embed")).await else { panic!("embeddings") };
        let AnswerBody::Complete(body) = answer.body else { panic!("a complete answer") };
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(header(&answer.headers, "x-switchyard-attempts"), Some("1"));
    })
    .await;
    let summary: Vec<(&str, u16, &str, Option<&str>)> =
        records.iter().map(|r| (r.request_id.as_str(), r.status, r.outcome.as_str(), r.customer_identifier.as_deref())).collect();
    assert_eq!(summary, [("a-chat", 200, "ok", None), ("b-embed", 200, "ok", Some("acme"))]);
    assert_eq!(records[0].metadata.get("job").map(String::as_str), Some("t"));
    assert_eq!((records[1].requested_model.as_str(), records[1].input_tokens), ("mock/embed", 3));
}

#[tokio::test]
async fn refusals_are_typed_by_step_and_recorded_with_the_status_the_codec_gives() {
    let records = records_of(async |app| {
        let snap = app.snapshot();
        let p = app.pipeline(&snap);
        let too_large = Inbound {
            body: async { Err::<Bytes, _>(BodyError::TooLarge { limit: 10 }) },
            decode: decode_chat,
            key: None,
            headers: RequestHeaders::default(),
            on_stream: None,
        };
        let cases = [
            (p.run(too_large, recorder(app, "a")).await, "body"),
            (p.run(inbound(decode_chat, r#"{"model":"mock/echo"}"#), recorder(app, "b")).await, "invalid"),
            (p.run(inbound(decode_embeddings, r#"{"model":"nope","input":"x"}"#), recorder(app, "c")).await, "unknown model"),
            (
                p.run(
                    inbound(decode_chat, r#"{"model":"mock/echo","messages":[{"role":"user","content":"x"}],"prompt_id":"p"}"#),
                    recorder(app, "d"),
                )
                .await,
                "prompt",
            ),
        ];
        for (i, (result, what)) in cases.into_iter().enumerate() {
            let Err(rejection) = result else { panic!("{what} is refused") };
            let matches = match (&rejection.error, i) {
                (PipelineError::Body(BodyError::TooLarge { limit: 10 }), 0) => true,
                (PipelineError::InvalidRequest(e), 1) => e.param.as_deref() == Some("messages"),
                (PipelineError::UnknownModel(_), 2) => true,
                (PipelineError::InvalidRequest(e), 3) => e.param.as_deref() == Some("prompt_id"),
                _ => false,
            };
            assert!(matches, "{what}: {:?}", rejection.error);
            rejection.record(|e| e, |_| (400 + i as u16, "test", format!("case {i}")));
        }
    })
    .await;
    let summary: Vec<(u16, &str, Option<&str>)> =
        records.iter().map(|r| (r.status, r.outcome.as_str(), r.error_message.as_deref())).collect();
    assert_eq!(
        summary,
        [(400, "error", Some("case 0")), (401, "error", Some("case 1")), (402, "error", Some("case 2")), (403, "error", Some("case 3"))]
    );
}

#[tokio::test]
async fn a_stream_records_itself_when_it_ends_and_when_it_is_dropped() {
    let records = records_of(async |app| {
        let snap = app.snapshot();
        let p = app.pipeline(&snap);
        let body = r#"{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#;
        let Ok(answer) = p.run(inbound(decode_chat, body), recorder(app, "a-whole")).await else { panic!("streamed") };
        let AnswerBody::Stream(mut stream) = answer.body else { panic!("a stream") };
        let mut events = 0;
        loop {
            match stream.next().await {
                Some(StreamEvent::Chunk(_)) => events += 1,
                Some(StreamEvent::Done) => break,
                Some(StreamEvent::Failed(e)) => panic!("{e:?}"),
                None => panic!("ended without Done"),
            }
        }
        assert!(events >= 3, "{events} chunks");
        assert!(stream.next().await.is_none(), "nothing after Done");

        let Ok(answer) = p.run(inbound(decode_chat, body), recorder(app, "b-cut")).await else { panic!("streamed") };
        let AnswerBody::Stream(mut stream) = answer.body else { panic!("a stream") };
        assert!(matches!(stream.next().await, Some(StreamEvent::Chunk(_))));
        drop(stream); // the client went away

        // A request dropped before it could answer (the client left at once).
        let slow = r#"{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}"#;
        let run = p.run(inbound(decode_chat, slow), recorder(app, "c-gone"));
        drop(run);
    })
    .await;
    let summary: Vec<(&str, u16, &str)> = records.iter().map(|r| (r.request_id.as_str(), r.status, r.outcome.as_str())).collect();
    assert_eq!(summary, [("a-whole", 200, "ok"), ("b-cut", 200, "client_disconnected"), ("c-gone", 499, "client_disconnected")]);
    assert_eq!((records[0].input_tokens, records[0].stream), (6, true));
}
