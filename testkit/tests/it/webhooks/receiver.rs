//! A real HTTP receiver for webhook tests: it records every request (its
//! headers and exact body bytes) and answers from a script: a status per
//! request in order, `Hold` (never answer), a redirect or an enormous body,
//! then 200 for the rest.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// Keep the request waiting, never answering.
    Hold,
    /// 302 to this URL.
    Redirect(String),
    /// 200 with a body of this many bytes (`x` each).
    Big(usize),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            port: listener.local_addr().unwrap().port(),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let serving = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let serving = serving.clone();
                        async move { serving.answer(request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        receiver
    }

    /// `http://127.0.0.1:<port>/hook`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn answer(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = value.to_str().unwrap_or("").to_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let body = request.into_body().collect().await?.to_bytes();
        self.received
            .lock()
            .unwrap()
            .push(Received { headers, body });
        let next = self.script.lock().unwrap().pop_front();
        match next.unwrap_or(Answer::Status(200)) {
            Answer::Status(status) => Ok(Response::builder()
                .status(status)
                .body(Full::new(Bytes::from(format!("answered {status}"))))
                .unwrap()),
            Answer::Redirect(to) => Ok(Response::builder()
                .status(302)
                .header("location", to)
                .body(Full::new(Bytes::from_static(b"moved")))
                .unwrap()),
            Answer::Big(bytes) => Ok(Response::builder()
                .status(200)
                .body(Full::new(Bytes::from(vec![b'x'; bytes])))
                .unwrap()),
            Answer::Hold => {
                std::future::pending::<()>().await;
                unreachable!()
            }
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests came, or panics after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        testkit::eventually(timeout, &format!("{count} webhook requests"), || async {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}
