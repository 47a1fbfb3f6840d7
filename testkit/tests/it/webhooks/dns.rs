//! A real DNS server (UDP) for webhook tests, answering `A` queries for
//! one name with an address the test sets and may change: "DNS changes
//! after registration". Other names and types get an empty answer.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Dns {
    pub addr: std::net::SocketAddr,
    answer: Arc<Mutex<Ipv4Addr>>,
}

impl Dns {
    /// Serves `name` (without the trailing dot) as `ip`.
    pub async fn start(name: &str, ip: Ipv4Addr) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dns = Self {
            addr: socket.local_addr().unwrap(),
            answer: Arc::new(Mutex::new(ip)),
        };
        let (answer, name) = (Arc::clone(&dns.answer), name.to_ascii_lowercase());
        tokio::spawn(async move {
            let mut buffer = [0u8; 512];
            while let Ok((read, from)) = socket.recv_from(&mut buffer).await {
                let ip = *answer.lock().unwrap();
                if let Some(reply) = reply(&buffer[..read], &name, ip) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        dns
    }

    pub fn set(&self, ip: Ipv4Addr) {
        *self.answer.lock().unwrap() = ip;
    }
}

/// The reply to one query: the question echoed, and an `A` record when it
/// asks for `name`'s `A`.
fn reply(query: &[u8], name: &str, ip: Ipv4Addr) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question: labels up to the zero byte, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let matches = labels.join(".") == name && qtype == 1;
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(&query[0..2]); // id
    reply.extend_from_slice(&[0x81, 0x80]); // a response, recursion available, no error
    reply.extend_from_slice(&[0, 1]); // one question
    reply.extend_from_slice(&[0, u8::from(matches)]); // answers
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(query.get(12..question_end)?);
    if matches {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]); // ttl 0
        reply.extend_from_slice(&ip.octets());
    }
    Some(reply)
}
