//! A loopback TCP proxy for failure tests: it forwards to a real server until it is cut (every
//! open connection dropped, new ones refused) or frozen (connections stay open but nothing is
//! forwarded: a hung server), until it is restored.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running proxy.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, cut: Arc<AtomicBool>, frozen: Arc<AtomicBool>) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                while frozen.load(Ordering::SeqCst) && !cut.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// Forwards a new loopback port to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let cut = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, f, o) = (cut.clone(), frozen.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    o.lock().expect("lock").extend([c2, s2]);
                }
                let (c1, s1) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (cut_a, cut_b) = (c.clone(), c.clone());
                let (frozen_a, frozen_b) = (f.clone(), f.clone());
                std::thread::spawn(move || pump(c1, server, cut_a, frozen_a));
                std::thread::spawn(move || pump(s1, client, cut_b, frozen_b));
            }
        });
        Proxy {
            addr,
            cut,
            frozen,
            open,
        }
    }

    /// Keeps every connection open but forwards nothing, as a hung server would.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Drops what was cut or frozen and accepts new connections again.
    pub fn restore(&self) {
        if self.frozen.swap(false, Ordering::SeqCst) {
            self.cut();
        }
        self.cut.store(false, Ordering::SeqCst);
    }
}
