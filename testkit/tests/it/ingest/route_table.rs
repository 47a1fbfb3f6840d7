//! The router against the OpenAPI document it serves: every documented
//! operation is routed, and on every documented path the router answers
//! exactly the documented methods (anything else is 405 with an `Allow`
//! header that names them). A route added to the router but not to the
//! document, or documented but not routed, fails here.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use testkit::app::TestApp;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A concrete path for a documented template.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{tracking_number}" | "{tn}" => "TRK0ROUTES001",
            s if s.starts_with('{') => "8c1f0a52-3a51-4c8e-9b37-4a3e6d1f2b90",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_operations() {
    let app = TestApp::spawn().await;
    let document: Value = app
        .get("/openapi.json")
        .await
        .json()
        .await
        .expect("the OpenAPI document");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let methods = item
            .as_object()
            .expect("a path item")
            .keys()
            .map(|m| m.to_uppercase())
            .filter(|m| METHODS.contains(&m.as_str()))
            .collect();
        documented.insert(path.clone(), methods);
    }
    assert!(documented.len() > 30, "{documented:?}");
    let origin = app.base.trim_end_matches("/api/v1").to_owned();
    let mut problems = Vec::new();
    // Signing out ends the session the probes use: it goes last.
    let mut order: Vec<(&String, &BTreeSet<String>)> = documented.iter().collect();
    order.sort_by_key(|(path, _)| path.ends_with("/auth/logout"));
    for (template, methods) in order {
        let url = format!("{origin}{}", concrete(template));
        for method in METHODS {
            let request = app
                .http
                .request(method.parse().expect("a method"), &url)
                .json(&serde_json::json!({}));
            let answer = request.send().await.expect("an answer");
            let status = answer.status().as_u16();
            let allow = answer
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = answer.text().await.unwrap_or_default();
            let unrouted = status == 405 || body.contains("no such endpoint");
            if methods.contains(method) {
                if unrouted {
                    problems.push(format!(
                        "{method} {template}: documented, but the router answers {status} {body}"
                    ));
                }
            } else if status != 405 {
                problems.push(format!(
                    "{method} {template}: not documented, but the router answers {status}"
                ));
            } else {
                let allowed: BTreeSet<String> = allow
                    .unwrap_or_default()
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty())
                    .collect();
                if &allowed != methods {
                    problems.push(format!(
                        "{template}: Allow says {allowed:?}, the document {methods:?}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "router and OpenAPI document disagree:\n{}",
        problems.join("\n")
    );
    app.shutdown().await;
}
