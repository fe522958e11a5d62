use std::collections::BTreeSet;
use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::Value;

use super::memory::MemoryGovernance;
use super::{Admin, ADMIN_KEY};
use crate::admin::endpoints;
use crate::admin::openapi::DOCUMENT;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let routed: BTreeSet<(String, String)> = endpoints().into_iter().map(|e| (e.method.to_string(), e.path.to_string())).collect();
    let documented = documented();
    assert_eq!(routed.difference(&documented).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "routes missing from openapi.json");
    assert_eq!(documented.difference(&routed).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "documented routes that do not exist");
}

#[test]
fn every_reference_in_the_document_resolves() {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    let text = DOCUMENT;
    for reference in text.split("\"$ref\": \"#/").skip(1).map(|rest| rest.split('"').next().unwrap()) {
        let target = reference.split('/').fold(&doc, |node, part| &node[part]);
        assert!(!target.is_null(), "dangling $ref #/{reference}");
    }
}

/// The router answers every documented route (no `unknown_url` fallback), open or behind the key.
#[tokio::test]
async fn every_documented_route_is_served() {
    let admin = Admin::over(Arc::new(MemoryGovernance::default()));
    for (method, path) in documented() {
        let path = path.replace("{id}", "key_x").replace("{scope}", "team").replace("{name}", "t");
        let (status, body) =
            admin.raw(Method::from_bytes(method.as_bytes()).unwrap(), &path, Some(&format!("Bearer {ADMIN_KEY}")), Some("{}".into())).await;
        assert!(!body.contains("unknown_url") && status != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {status} {body}");
    }
    let (status, body) = admin.raw(Method::GET, "/admin/nothing", Some(&format!("Bearer {ADMIN_KEY}")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("openapi.json"), "{body}");
}
