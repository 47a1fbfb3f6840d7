//! A receiver verifies what it gets with the secret it was shown once;
//! a tampered body or an old timestamp fails, with the verifier in
//! `shared` and with the README's Python and Node.js recipes, run as they
//! are written there.

use super::receiver::Receiver;
use super::{register, DELIVERY_WAIT};
use shared::webhooks::secret::{verify, VerifyError};
use testkit::app::{package_body, tracking_number, TestApp};

/// A fenced block of the README, between `<!-- marker -->` and the end of
/// its fence.
fn readme_block(marker: &str) -> String {
    let readme = include_str!("../../../../README.md");
    let start = readme
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("README has no {marker} block"));
    let rest = &readme[start..];
    let open = rest.find("```").expect("a fence") + 3;
    let code_start = open + rest[open..].find('\n').expect("a fence line") + 1;
    let code_end = code_start + rest[code_start..].find("```").expect("a closing fence");
    rest[code_start..code_end].to_owned()
}

/// Runs a README recipe on one request: whether it accepts.
fn recipe_accepts(language: &str, secret: &str, header: &str, body: &[u8]) -> bool {
    let dir = std::env::temp_dir().join(format!("dt-webhook-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let body_file = dir.join("body");
    std::fs::write(&body_file, body).unwrap();
    let (program, file, driver) = match language {
        "python" => (
            "python3",
            "verify.py",
            "\nimport os, sys\nok = verify(os.environ['SECRET'], os.environ['SIGNATURE'], open(os.environ['BODY_FILE'], 'rb').read())\nsys.exit(0 if ok else 1)\n",
        ),
        _ => (
            "node",
            "verify.js",
            "\nconst ok = verify(process.env.SECRET, process.env.SIGNATURE, require('fs').readFileSync(process.env.BODY_FILE));\nprocess.exit(ok ? 0 : 1);\n",
        ),
    };
    let script = dir.join(file);
    let code = readme_block(&format!("webhook-verify:{language}"));
    std::fs::write(&script, format!("{code}{driver}")).unwrap();
    let status = std::process::Command::new(program)
        .arg(&script)
        .env("SECRET", secret)
        .env("SIGNATURE", header)
        .env("BODY_FILE", &body_file)
        .status()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    status.success()
}

#[tokio::test]
async fn a_receiver_verifies_the_signature_and_refuses_a_tampered_or_old_one() {
    let app = TestApp::spawn_with(testkit::app::Options::default().with_webhooks(|_| {})).await;
    let receiver = Receiver::start(Vec::new()).await;
    let webhook = register(
        &app,
        &app.http,
        &receiver.url(),
        &["created", "status_changed"],
    )
    .await;
    let secret = webhook["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    // The secret is never shown again.
    let id = webhook["id"].as_str().unwrap();
    let read: serde_json::Value = app
        .get(&format!("/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("secret").is_none(), "{read}");

    let tn = tracking_number();
    app.post_json("/packages", &package_body(&tn)).await;
    let got = receiver.wait_for(1, DELIVERY_WAIT).await;
    let request = &got[0];
    let body = request.json();
    assert_eq!(body["type"], "created");
    assert_eq!(body["data"]["tracking_number"], tn.as_str());
    assert_eq!(body["data"]["seq"], 1);
    assert_eq!(request.header("x-delivertrack-attempt"), "1");
    assert_eq!(
        request.header("x-delivertrack-event-id"),
        body["id"].as_str().unwrap()
    );
    assert_eq!(request.header("content-type"), "application/json");

    let header = request.header("x-delivertrack-signature").to_owned();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(verify(&header, &secret, &request.body, now, 300), Ok(()));
    let mut tampered = request.body.to_vec();
    let at = tampered.iter().position(|b| *b == b'1').expect("a digit");
    tampered[at] = b'2';
    assert_eq!(
        verify(&header, &secret, &tampered, now, 300),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify(&header, &secret, &request.body, now + 3600, 300),
        Err(VerifyError::Stale)
    );
    assert_eq!(
        verify(&header, "whsec_someone_else", &request.body, now, 300),
        Err(VerifyError::Mismatch)
    );

    // The README's recipes, as written there.
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    let old = shared::webhooks::secret::signature_header(
        std::slice::from_ref(&secret),
        t - 3600,
        &request.body,
    );
    for language in ["python", "node"] {
        assert!(
            recipe_accepts(language, &secret, &header, &request.body),
            "{language} accepts"
        );
        assert!(
            !recipe_accepts(language, &secret, &header, &tampered),
            "{language}: tampered"
        );
        assert!(
            !recipe_accepts(language, &secret, &old, &request.body),
            "{language}: old"
        );
        assert!(
            !recipe_accepts(language, "whsec_other", &header, &request.body),
            "{language}: wrong secret"
        );
    }

    // After a rotation both secrets sign for a day: either verifies.
    let rotated: serde_json::Value = app
        .http
        .post(app.url(&format!("/webhooks/{id}/rotate")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["secret_version"], 2);
    app.set_status(&tn, "in_transit").await;
    let got = receiver.wait_for(2, DELIVERY_WAIT).await;
    let second = &got[1];
    let header = second.header("x-delivertrack-signature");
    let now = chrono::Utc::now().timestamp();
    assert_eq!(verify(header, &new_secret, &second.body, now, 300), Ok(()));
    assert_eq!(verify(header, &secret, &second.body, now, 300), Ok(()));
    app.shutdown().await;
}
