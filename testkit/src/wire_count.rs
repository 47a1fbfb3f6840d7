//! Proxies that count what a client sends a database, read off the wire: the
//! commands in MongoDB `OP_MSG`s by name, the statements PostgreSQL is asked
//! to execute by their first word. Tests use them to pin the *shape* of a
//! write path (commands per point), which no timing can show.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

/// What the counted client sent, by name.
#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<HashMap<String, u64>>>);

impl Counts {
    fn add(&self, name: &str) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(name.to_owned()).or_default() += 1;
    }

    /// How many of this name were sent.
    pub fn get(&self, name: &str) -> u64 {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(name).copied().unwrap_or_default()
    }

    /// The sum over these names.
    pub fn sum(&self, names: &[&str]) -> u64 {
        names.iter().map(|name| self.get(name)).sum()
    }

    pub fn snapshot(&self) -> HashMap<String, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    Mongo,
    Postgres,
}

/// A counting proxy in front of `target`; it lives as long as the test.
pub struct CountingProxy {
    pub addr: SocketAddr,
    pub counts: Counts,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Counts MongoDB commands (`insert`, `update`, `find`, ...).
    pub async fn mongo(target: &str) -> Self {
        Self::start(target, Protocol::Mongo).await
    }

    /// Counts PostgreSQL statements by their first word, upper-cased
    /// (`INSERT`, `UPDATE`, `BEGIN`, `COMMIT`, ...).
    pub async fn postgres(target: &str) -> Self {
        Self::start(target, Protocol::Postgres).await
    }

    async fn start(target: &str, protocol: Protocol) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let counts = Counts::default();
        let task = tokio::spawn({
            let (counts, target) = (counts.clone(), target.to_owned());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (counts, target) = (counts.clone(), target.clone());
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(&target).await else {
                            return;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (client_read, mut client_write) = client.into_split();
                        let (mut server_read, mut server_write) = server.into_split();
                        let upstream = async {
                            let _ = match protocol {
                                Protocol::Mongo => {
                                    mongo_upstream(client_read, &mut server_write, &counts).await
                                }
                                Protocol::Postgres => {
                                    postgres_upstream(client_read, &mut server_write, &counts).await
                                }
                            };
                            let _ = server_write.shutdown().await;
                        };
                        let downstream = async {
                            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                            let _ = client_write.shutdown().await;
                        };
                        tokio::join!(upstream, downstream);
                    });
                }
            }
        });
        Self { addr, counts, task }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards MongoDB messages one by one, counting each `OP_MSG` command by
/// the first key of its body (the command name).
async fn mongo_upstream(
    mut from: OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    counts: &Counts,
) -> std::io::Result<()> {
    const OP_MSG: i32 = 2013;
    loop {
        let mut header = [0u8; 16];
        from.read_exact(&mut header).await?;
        let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let op_code = i32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        let mut body = vec![0u8; (length as usize).saturating_sub(16)];
        from.read_exact(&mut body).await?;
        if op_code == OP_MSG {
            // flagBits (4), then section kind 0 (1 byte), then the BSON body:
            // length (4), element type (1), the first key as a C string.
            if let Some(name) = body
                .get(10..)
                .filter(|_| body.get(4) == Some(&0))
                .and_then(|rest| rest.split(|b| *b == 0).next())
                .and_then(|name| std::str::from_utf8(name).ok())
            {
                counts.add(name);
            }
        }
        to.write_all(&header).await?;
        to.write_all(&body).await?;
    }
}

/// Forwards PostgreSQL frontend messages, counting simple queries (`Q`) and
/// parsed statements' executions (`E`, named by the statement last parsed or
/// bound on that name: sqlx parses each statement once and binds it again).
async fn postgres_upstream(
    mut from: OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    counts: &Counts,
) -> std::io::Result<()> {
    const SSL_REQUEST: i32 = 80877103;
    const GSS_REQUEST: i32 = 80877104;
    // Untyped messages (SSL/GSS requests, then the startup message) first.
    loop {
        let mut length = [0u8; 4];
        from.read_exact(&mut length).await?;
        let mut body = vec![0u8; (i32::from_be_bytes(length) as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        to.write_all(&length).await?;
        to.write_all(&body).await?;
        let code = body
            .get(..4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if code != Some(SSL_REQUEST) && code != Some(GSS_REQUEST) {
            break;
        }
    }
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut portals: HashMap<String, String> = HashMap::new();
    loop {
        let mut header = [0u8; 5];
        from.read_exact(&mut header).await?;
        let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut body = vec![0u8; (length as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        let mut strings = body.split(|b| *b == 0).map(String::from_utf8_lossy);
        match header[0] {
            b'Q' => counts.add(&first_word(&strings.next().unwrap_or_default())),
            b'P' => {
                let name = strings.next().unwrap_or_default().into_owned();
                let sql = strings.next().unwrap_or_default();
                statements.insert(name, first_word(&sql));
            }
            b'B' => {
                let portal = strings.next().unwrap_or_default().into_owned();
                let statement = strings.next().unwrap_or_default();
                let word = statements
                    .get(statement.as_ref())
                    .cloned()
                    .unwrap_or_default();
                portals.insert(portal, word);
            }
            b'E' => {
                let portal = strings.next().unwrap_or_default();
                if let Some(word) = portals.get(portal.as_ref()) {
                    counts.add(word);
                }
            }
            _ => {}
        }
        to.write_all(&header).await?;
        to.write_all(&body).await?;
    }
}

fn first_word(sql: &str) -> String {
    sql.split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(';')
        .to_uppercase()
}
