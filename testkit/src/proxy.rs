//! A TCP proxy in front of a real service, for tests that need the service
//! to vanish and come back without touching the shared server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped on every cut: live connections watch it and close.
    cuts: watch::Sender<u64>,
    /// Each accepted connection's own cut, in the order they came.
    connections: Arc<Mutex<Vec<tokio_util::sync::CancellationToken>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let connections: Arc<Mutex<Vec<tokio_util::sync::CancellationToken>>> = Arc::default();
        let task = tokio::spawn({
            let (up, cuts, target) = (Arc::clone(&up), cuts.clone(), target.to_owned());
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // refused: dropped at once
                    }
                    let mut cut = cuts.subscribe();
                    let own = tokio_util::sync::CancellationToken::new();
                    connections
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(own.clone());
                    let target = target.clone();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(&target).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                            _ = own.cancelled() => {}
                        }
                    });
                }
            }
        });
        Self {
            addr,
            up,
            cuts,
            connections,
            task,
        }
    }

    /// The service is gone: open connections are cut, new ones refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Cuts only the `n`th connection the proxy accepted (from 0); the
    /// others, and new ones, go on.
    pub fn cut_connection(&self, n: usize) {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections
            .get(n)
            .expect("the proxy accepted that many connections")
            .cancel();
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The service is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
